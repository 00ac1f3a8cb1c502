"""referral_hub: live capacity and consented referrals between anti-trafficking agencies.

Importing the package loads nothing else: the offline audit verifier
(`python -m referral_hub.audit.verify`) must run without Flask, the app or its config.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from referral_hub.app import HubFlask


def create_app(config: dict[str, Any] | None = None) -> HubFlask:
    """Application factory; `config` overrides defaults, mode module and environment."""
    from referral_hub.app import build_app

    return build_app(config)
