"""Shared building blocks that every feature stands on; imports no feature package."""
