"""The directory: services with structured eligibility, where they are, and live capacity."""
