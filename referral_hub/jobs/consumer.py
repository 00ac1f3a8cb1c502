"""The worker's delivery loop: wait for a wake-up, drain every due outbox row, repeat.

One pass delivers what is due in the order it became due, a row per transaction, in one
app context and over kept-alive connections; nothing per row goes through Redis. The
wake-up is only a shortcut: the loop also looks every `OUTBOX_POLL_SECONDS` (retries
whose backoff ran out, rows whose wake-up Redis lost), and goes on delivering, by
polling, while Redis is away.
"""

from __future__ import annotations

import logging
import threading

from flask import Flask

from referral_hub.extensions import db
from referral_hub.jobs.queue import RqQueue
from referral_hub.jobs.service import deliver_due

log = logging.getLogger(__name__)

# rows per pass before the loop looks at its stop flag again
PASS_ROWS = 10
# how long a stopping worker waits for the row in hand (a receiver's timeout is 5 s)
FINISH_SECONDS = 10.0


def drain(app: Flask, stop: threading.Event | None = None) -> int:
    """Deliver everything due now (or until `stop`); how many rows were attempted."""
    with app.app_context():
        return _drain(stop)


def _drain(stop: threading.Event | None) -> int:
    total = 0
    try:
        while stop is None or not stop.is_set():
            attempted = deliver_due(PASS_ROWS)
            total += attempted
            if attempted < PASS_ROWS:
                break
    finally:
        db.session.remove()  # a fresh session (and identity map) for every pass
    return total


def run_deliveries(app: Flask, queue: RqQueue, stop: threading.Event) -> None:
    """The loop, until `stop` is set (it finishes the row in hand first)."""
    poll = float(app.config["OUTBOX_POLL_SECONDS"])
    redis_away = False
    with app.app_context():  # one for the loop's life
        while not stop.is_set():
            try:
                _drain(stop)
            except Exception:  # the database away or a bug: log, wait, try again
                log.exception("outbox drain failed; trying again in %.0f s", poll)
                stop.wait(poll)
                continue
            try:
                queue.wait_for_deliveries(poll)
                if redis_away:
                    log.warning("Redis answers again: deliveries wake on hand-over")
                    redis_away = False
            except Exception as error:
                if not redis_away:
                    log.warning(
                        "Redis away (%s): deliveries go on every %.0f s by polling",
                        type(error).__name__,
                        poll,
                    )
                    redis_away = True
                stop.wait(poll)


def start_deliveries(app: Flask, queue: RqQueue, stop: threading.Event) -> threading.Thread:
    """The loop on a thread of the worker process (rq keeps the main thread: signals)."""
    thread = threading.Thread(
        target=run_deliveries, args=(app, queue, stop), name="hub-deliveries", daemon=True
    )
    thread.start()
    return thread
