"""The production worker's loop: outbox deliveries on a thread and an rq worker for the
periodic sweeps, surviving Redis outages. `python -m referral_hub.worker` and `flask hub
worker` build the app and hand it here; this module never builds one (a job never does)."""

from __future__ import annotations

import logging
import signal
import threading
import time
from contextlib import suppress
from typing import Any

from flask import Flask
from redis.exceptions import ConnectionError, TimeoutError
from rq import SimpleWorker

from referral_hub.jobs import consumer
from referral_hub.jobs.queue import RqQueue
from referral_hub.jobs.runtime import set_process_app


class NoQueue(RuntimeError):
    """Embedded mode (no Redis): there is no separate worker to run."""


# The longest wait between attempts to reach Redis again, for the worker (rq's own
# dequeue loop would wait up to a minute).
REDIS_RETRY_MAX_SECONDS = 5.0


def run_worker(app: Flask, *, burst: bool) -> None:
    """Outbox deliveries (`jobs.consumer`, on a thread) and an rq worker (no fork per job)
    for periodic sweeps, with rq's scheduler. With `burst`, everything due now, then stop.

    rq quits its work loop when Redis goes away at the wrong moment (a heartbeat, a job's
    bookkeeping, a socket timeout). The database is the truth and the sweeper re-queues
    what Redis lost, so the process waits for Redis with backoff and starts a new rq
    worker, instead of dying. SIGTERM/SIGINT still stop it (rq's warm shutdown while it
    works, at once while it waits).
    """
    set_process_app(app)
    queue = app.extensions["hub_queue"]
    if not isinstance(queue, RqQueue):
        raise NoQueue("no REDIS_URL is set: in embedded mode jobs run inside `flask hub serve`")
    log = logging.getLogger("referral_hub.worker")
    stop = threading.Event()  # SIGTERM/SIGINT: ends rq's loop and the deliveries' alike
    if burst:
        consumer.drain(app)
    else:
        deliveries = consumer.start_deliveries(app, queue, stop)
    delay = 1.0
    while True:
        worker = SimpleWorker([queue.queue], connection=queue.redis)
        worker.max_connection_wait_time = REDIS_RETRY_MAX_SECONDS
        rq_request_stop = worker.request_stop

        def request_stop(signum: int, frame: Any, rq_request_stop: Any = rq_request_stop) -> None:
            stop.set()
            rq_request_stop(signum, frame)

        worker.request_stop = request_stop  # type: ignore[method-assign]
        failed: str | None = None
        started = time.monotonic()
        try:
            worker.work(with_scheduler=True, burst=burst)
        except (ConnectionError, TimeoutError) as error:
            failed = type(error).__name__
        _stop_listener(worker)
        if burst and failed is None:
            consumer.drain(app)  # what the sweeps just handed over
            return
        if stop.is_set():
            break
        if time.monotonic() - started > 60:
            delay = 1.0  # it had been working: a fresh outage starts a fresh backoff
        # rq left its loop without being asked to (it logged why): wait until Redis answers
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        while not stop.is_set():
            log.warning(
                "rq worker stopped (%s); trying Redis again in %.0f s",
                failed or "see rq's log",
                delay,
            )
            stop.wait(delay)
            delay = min(delay * 2, REDIS_RETRY_MAX_SECONDS)
            try:
                queue.redis.ping()
            except (ConnectionError, TimeoutError) as error:
                failed = type(error).__name__
                continue
            break
        if stop.is_set():
            break
        log.warning("Redis answers: starting a new rq worker")
    if not burst:  # the row in hand is finished and marked before the process ends
        deliveries.join(timeout=consumer.FINISH_SECONDS)


def _stop_listener(worker: Any) -> None:
    """What rq's teardown leaves running when Redis is away: its pub/sub listener thread
    (one more per outage otherwise). A no-op after a clean teardown."""
    thread = getattr(worker, "pubsub_thread", None)
    if thread is not None and thread.is_alive():
        with suppress(Exception):
            thread.stop()
            thread.join(timeout=1)
    pubsub = getattr(worker, "pubsub", None)
    if pubsub is not None:
        with suppress(Exception):
            pubsub.close()
