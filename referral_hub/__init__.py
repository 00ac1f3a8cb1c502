"""referral_hub: live capacity and consented referrals between anti-trafficking agencies."""

from __future__ import annotations

from typing import Any

from referral_hub.app import HubFlask, build_app


def create_app(config: dict[str, Any] | None = None) -> HubFlask:
    """Application factory; `config` overrides defaults, mode module and environment."""
    return build_app(config)
