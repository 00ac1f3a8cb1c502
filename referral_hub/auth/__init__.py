"""Identity and access: who is calling (staff session or agency system) and what they may do."""
