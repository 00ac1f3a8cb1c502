"""Agencies and their staff: the tenants of the hub and the people who act for them."""
