"""Consent: what a survivor agreed to share, with whom, for what, until when."""
