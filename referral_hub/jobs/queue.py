"""Where jobs go after commit: Redis (a wake-up for deliveries, rq for sweeps), a thread in
this process, or inline (tests).

All three take only ids, or nothing at all. The database is the truth: if a backend loses
a hand-over (Redis down, process killed), the outbox sweeper hands it over again.
"""

from __future__ import annotations

import logging
import queue
import threading
from contextlib import suppress
from typing import Any, Protocol

from flask import Flask

log = logging.getLogger(__name__)


class JobQueue(Protocol):
    name: str

    def enqueue_delivery(self, outbox_id: str) -> None: ...

    def enqueue_task(self, task: str, slot: int) -> None: ...

    def ping(self) -> bool: ...


class InlineQueue:
    """Runs the job at once in the caller's app context (the test suite's default)."""

    name = "inline"

    def enqueue_delivery(self, outbox_id: str) -> None:
        from referral_hub.jobs.service import deliver

        deliver(outbox_id)

    def enqueue_task(self, task: str, slot: int) -> None:
        from referral_hub.jobs.periodic import run_periodic

        run_periodic(task)

    def ping(self) -> bool:
        return True


class ThreadQueue:
    """Embedded mode: one daemon thread runs jobs in order, each in its own app context."""

    name = "thread"

    def __init__(self, app: Flask) -> None:
        self._app = app
        self._jobs: queue.Queue[tuple[str, str]] = queue.Queue()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()
        self._last_slot: dict[str, int] = {}

    def _ensure_thread(self) -> None:
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="hub-jobs", daemon=True)
                self._thread.start()

    def enqueue_delivery(self, outbox_id: str) -> None:
        self._ensure_thread()
        self._jobs.put(("deliver", outbox_id))

    def enqueue_task(self, task: str, slot: int) -> None:
        if self._last_slot.get(task) == slot:
            return
        self._last_slot[task] = slot
        self._ensure_thread()
        self._jobs.put(("task", task))

    def drain(self) -> None:
        """Wait until every queued job has run (for tests and clean shutdown)."""
        self._jobs.join()

    def _run(self) -> None:
        from referral_hub.extensions import db
        from referral_hub.jobs.periodic import run_periodic
        from referral_hub.jobs.service import deliver

        while True:
            kind, argument = self._jobs.get()
            try:
                with self._app.app_context():
                    try:
                        deliver(argument) if kind == "deliver" else run_periodic(argument)
                    finally:
                        db.session.remove()
            except Exception:
                log.exception("in-process job %s failed; the sweeper will retry", kind)
            finally:
                self._jobs.task_done()

    def ping(self) -> bool:
        return True


class RqQueue:
    """Production, on Redis: deliveries through a wake-up, periodic sweeps as rq jobs.

    A committed outbox row costs the web one round trip: a token on a one-slot list that
    wakes a worker, which then drains every due row from the database in one pass (see
    `jobs.consumer`). No per-row job is written, read, started and finished in Redis: the
    outbox table already says what is due. rq keeps what it is good at, jobs that run
    once per slot (`enqueue_task`).
    """

    name = "rq"

    def __init__(self, url: str, queue_name: str, connection: Any = None) -> None:
        from redis import Redis
        from rq import Queue

        self.redis = connection or Redis.from_url(url, socket_connect_timeout=1, socket_timeout=2)
        self.queue = Queue(queue_name, connection=self.redis)
        self.wake_key = f"{queue_name}:outbox:due"

    def enqueue_delivery(self, outbox_id: str) -> None:
        # one pipeline, one round trip; the list never holds more than one token, however
        # many rows commit while no worker listens
        pipe = self.redis.pipeline(transaction=False)
        pipe.lpush(self.wake_key, "1")
        pipe.ltrim(self.wake_key, 0, 0)
        pipe.execute()

    def wait_for_deliveries(self, timeout: float) -> bool:
        """Block until a row was handed over (True) or `timeout` seconds passed (False)."""
        return self.redis.blpop([self.wake_key], timeout=timeout) is not None

    def enqueue_task(self, task: str, slot: int) -> None:
        from rq.exceptions import DuplicateJobError

        from referral_hub.jobs.periodic import run_periodic

        job_id = f"periodic-{task.replace('.', '_')}-{slot}"
        with suppress(DuplicateJobError):  # the slot in the id: one job per slot, however
            self.queue.enqueue(  # many schedulers run
                run_periodic, task, job_id=job_id, unique=True, result_ttl=600, job_timeout=600
            )

    def ping(self) -> bool:
        return bool(self.redis.ping())


def build_queue(app: Flask) -> JobQueue:
    runner = app.config.get("JOB_RUNNER") or (
        "rq" if app.config["REDIS_URL"] else ("inline" if app.config.get("TESTING") else "thread")
    )
    if runner == "rq":
        if not app.config["REDIS_URL"]:
            raise RuntimeError("JOB_RUNNER=rq needs REDIS_URL")
        return RqQueue(app.config["REDIS_URL"], app.config["RQ_QUEUE"])
    if runner == "thread":
        return ThreadQueue(app)
    if runner == "inline":
        return InlineQueue()
    raise RuntimeError(f"unknown JOB_RUNNER {runner!r}: use rq, thread or inline")
