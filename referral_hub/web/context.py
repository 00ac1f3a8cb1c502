"""What every page template may use: the signed-in person, their menu, time filters."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from flask import Flask, g, request, url_for

from referral_hub.core.actor import Actor, ActorKind

# (label, endpoint, roles that see it); the menu shows what the person's roles allow
MENU = [
    ("Dashboard", "intake.dashboard", {"intake"}),
    ("Find services", "intake.search", {"intake"}),
    ("Inbox", "provider.inbox", {"provider"}),
    ("Capacity", "provider.capacity", {"provider"}),
    ("Network", "coordinator.dashboard", {"coordinator"}),
    ("In limbo", "coordinator.limbo", {"coordinator"}),
    ("Audit", "coordinator.audit", {"coordinator"}),
    ("Disclosures", "coordinator.disclosures", {"coordinator"}),
    ("Admin", "admin.users", {"agency_admin", "hub_admin"}),
]


def staff_menu(actor: Actor) -> list[dict[str, Any]]:
    items = []
    for label, endpoint, roles in MENU:
        if actor.has_role(*roles):
            url = url_for(endpoint)
            current = request.path == url or (
                request.blueprint == endpoint.split(".")[0] and request.endpoint == endpoint
            )
            items.append({"label": label, "url": url, "current": current})
    return items


def time_left(when: datetime | None, now: datetime) -> str:
    """'in 3 h 20 min', '2 days ago': a deadline in words a worker reads at a glance."""
    if when is None:
        return ""
    seconds = int((when - now).total_seconds())
    words = duration_words(abs(seconds))
    return f"in {words}" if seconds >= 0 else f"{words} overdue"


def duration_words(seconds: float) -> str:
    seconds = int(seconds)
    if seconds < 60:
        return "under a minute"
    minutes = seconds // 60
    if minutes < 60:
        return f"{minutes} min"
    hours, minutes = divmod(minutes, 60)
    if hours < 48:
        return f"{hours} h {minutes} min" if minutes else f"{hours} h"
    return f"{hours // 24} days"


def ago(when: datetime | None, now: datetime) -> str:
    if when is None:
        return "never"
    seconds = (now - when).total_seconds()
    return "just now" if seconds < 60 else f"{duration_words(seconds)} ago"


def local(when: datetime | None, pattern: str = "%d %b %Y, %H:%M") -> str:
    """A stored UTC time in the hub's display zone (DISPLAY_TIMEZONE)."""
    if when is None:
        return ""
    from referral_hub.web.forms import display_zone

    return when.astimezone(display_zone()).strftime(pattern)


def init_app(app: Flask) -> None:
    app.jinja_env.filters["local"] = local
    app.jinja_env.filters["time_left"] = time_left
    app.jinja_env.filters["ago"] = ago
    app.jinja_env.filters["duration"] = duration_words
    app.jinja_env.filters["label"] = lambda v: str(getattr(v, "value", v) or "").replace("_", " ")

    @app.context_processor
    def _signed_in() -> dict[str, Any]:
        actor = g.get("actor")
        signed_in = actor is not None and actor.kind == ActorKind.USER
        context: dict[str, Any] = {"signed_in": signed_in, "actor": actor}
        if signed_in:
            from referral_hub.agencies import service as agencies

            if "staff_who" not in g:
                g.staff_who = agencies.who(actor)
            context.update(
                staff_nav=staff_menu(actor),
                staff_name=g.staff_who[0],
                staff_agency=g.staff_who[1],
            )
        return context
