"""Referrals and bundles: the closed loop from one intake to an answered handoff."""
