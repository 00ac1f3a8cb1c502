"""Survivor records: a random reference, a non-identifying profile, and sealed PII."""
