"""Configuration modules; see config/default.py for every setting."""
