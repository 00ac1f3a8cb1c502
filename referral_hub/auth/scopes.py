"""The OAuth scopes agency systems may hold (no database needed to list them)."""

from __future__ import annotations

SCOPES = (
    "directory:read",
    "capacity:write",
    "clients:write",
    "clients:read",
    "referrals:read",
    "referrals:write",
    "audit:read",
    "admin",
)
