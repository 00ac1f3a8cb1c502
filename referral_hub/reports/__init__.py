"""Coordinator reports: how handoffs between agencies go, and which episodes are stuck."""
