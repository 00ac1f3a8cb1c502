"""The two doors of live pages: announcing a referral change (from the one place referral
states change, after commit) and opening a signed-in agency's stream of them."""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Generator, Iterable, Iterator
from typing import Any

from flask import Flask, current_app

from referral_hub.core.actor import Actor, ActorKind
from referral_hub.core.db import after_commit
from referral_hub.core.errors import ServiceUnavailable, Unauthorized
from referral_hub.extensions import db
from referral_hub.live.broker import (
    END,
    RESYNC,
    Broker,
    Change,
    InProcessBroker,
    RedisBroker,
    Slots,
    Subscription,
)

log = logging.getLogger(__name__)


def init_app(app: Flask) -> None:
    """Redis pub/sub when the hub has Redis (every process hears every change), else this
    process's own fan-out (embedded mode: jobs and pages share the process)."""
    broker: Broker
    if app.config["REDIS_URL"]:
        queue = app.extensions.get("hub_queue")
        broker = RedisBroker(
            app.config["REDIS_URL"],
            f"{app.config['REDIS_KEY_PREFIX']}:live",
            connection=getattr(queue, "redis", None),
        )
    else:
        broker = InProcessBroker()
    app.extensions["hub_live"] = broker
    app.extensions["hub_live_slots"] = Slots(int(app.config["LIVE_MAX_STREAMS"]))


def broker() -> Broker:
    return current_app.extensions["hub_live"]  # type: ignore[no-any-return]


def referral_changed(
    referral_id: uuid.UUID, bundle_id: uuid.UUID | None, agency_ids: Iterable[uuid.UUID]
) -> None:
    """Once this transaction has committed, tell the open pages of these agencies (and no
    others) that the referral changed. Never before: a page that refreshed at once would
    read the old state. A failed publish costs only immediacy (pages still poll)."""
    change = Change(referral=str(referral_id), bundle=str(bundle_id) if bundle_id else None)
    recipients = sorted({str(agency_id) for agency_id in agency_ids})
    target = broker()

    def publish() -> None:
        try:
            target.publish(recipients, change)
        except Exception as exc:  # Redis away must not fail a request that already committed
            log.warning(
                "live change of referral %s not published (%s); pages poll",
                change.referral,
                type(exc).__name__,
            )

    after_commit(db.session, publish)


def open_stream(actor: Actor) -> Stream:
    """A signed-in staff member's stream of their agency's changes, bounded in time.

    Refused (503, Retry-After) when this process already holds its most streams: the page
    then polls, and asks again later — ordinary requests keep their threads.
    """
    if actor.kind != ActorKind.USER or actor.agency_id is None:
        raise Unauthorized()
    config = current_app.config
    slots: Slots = current_app.extensions["hub_live_slots"]
    retry = int(config["LIVE_RETRY_SECONDS"])
    if not slots.take():
        raise ServiceUnavailable(
            "Too many live pages are open on this server; this page refreshes by itself.",
            headers={"Retry-After": str(retry)},
        )
    try:
        subscription = broker().subscribe(str(actor.agency_id))
    except Exception:
        slots.give_back()
        log.warning("live stream refused: no channel", exc_info=True)
        raise ServiceUnavailable(
            "Live updates are not available now; this page refreshes by itself.",
            headers={"Retry-After": str(retry)},
        ) from None
    # spread the reconnections of pages opened together
    lifetime = float(config["LIVE_MAX_SECONDS"]) * random.uniform(0.8, 1.0)  # noqa: S311 - not a secret
    return Stream(
        subscription,
        broker().hub.unsubscribe,
        slots.give_back,
        heartbeat=float(config["LIVE_HEARTBEAT_SECONDS"]),
        lifetime=lifetime,
        retry_ms=retry * 1000,
    )


class Stream:
    """The response body: `text/event-stream` lines until the lifetime ends or the client
    goes. Holds no request context, session or database connection while it runs; its
    subscription and slot are given back on `close()`, which the server calls whether or
    not the body was ever read."""

    def __init__(
        self,
        subscription: Subscription,
        unsubscribe: Any,
        give_back: Any,
        *,
        heartbeat: float,
        lifetime: float,
        retry_ms: int,
    ) -> None:
        self._subscription = subscription
        self._unsubscribe = unsubscribe
        self._give_back = give_back
        self._lines = self._run(heartbeat, lifetime, retry_ms)
        self._closed = False

    def __iter__(self) -> Iterator[bytes]:
        return self

    def __next__(self) -> bytes:
        return next(self._lines)

    def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        self._lines.close()
        self._unsubscribe(self._subscription)
        self._give_back()

    def _run(
        self, heartbeat: float, lifetime: float, retry_ms: int
    ) -> Generator[bytes, None, None]:
        # the retry hint first: when the lifetime ends the browser reconnects after it
        yield f"retry: {retry_ms}\n: open\n\n".encode()
        end = time.monotonic() + lifetime
        while (left := end - time.monotonic()) > 0:
            change = self._subscription.get(timeout=min(heartbeat, left))
            if change is END:
                return
            if change is None:
                yield b": keep-alive\n\n"  # a comment: proxies see traffic, pages ignore it
            else:
                yield frame(change)


def frame(change: Change) -> bytes:
    """One server-sent event: `referral` with its ids, or `resync` (refresh everything)."""
    if change is RESYNC:
        return b"event: resync\ndata: {}\n\n"
    return f"event: referral\ndata: {json.dumps(change.as_dict())}\n\n".encode()
