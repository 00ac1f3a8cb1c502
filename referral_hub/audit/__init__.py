"""The tamper-evident record: every state change and every look at survivor data."""
