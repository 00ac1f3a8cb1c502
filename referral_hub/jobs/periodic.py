"""Periodic sweeps: registered by name, run by one scheduler (or a timer thread).

Every sweep is idempotent and reads its work from the database, so running one twice, or
late, is harmless. The scheduler only decides *when*; the work runs as a job.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from flask import Flask, current_app

from referral_hub.core import clock
from referral_hub.core.db import transaction
from referral_hub.jobs.runtime import app_job

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PeriodicTask:
    name: str
    interval_setting: str  # config key holding the interval in seconds
    run: Callable[[], Any]


_tasks: dict[str, PeriodicTask] = {}


def register(name: str, interval_setting: str, run: Callable[[], Any]) -> None:
    _tasks[name] = PeriodicTask(name, interval_setting, run)


def tasks() -> list[PeriodicTask]:
    return list(_tasks.values())


@app_job
def run_periodic(name: str) -> Any:
    """One run of a sweep, in its own transaction."""
    task = _tasks[name]
    started = time.perf_counter()
    with transaction():
        result = task.run()
    # routine: operators of the production set want it, a person running `make run` does
    # not want it scrolling the start banner away every fifteen seconds
    level = logging.INFO if current_app.config["HUB_ENV"] == "production" else logging.DEBUG
    log.log(
        level,
        "periodic %s done",
        name,
        extra={"task": name, "result": result, "ms": round((time.perf_counter() - started) * 1000)},
    )
    return result


def due_slots(app: Flask) -> list[tuple[str, int]]:
    """(task, slot) for every task: the slot number changes once per interval."""
    now = clock.now().timestamp()
    return [(task.name, int(now // max(1, app.config[task.interval_setting]))) for task in tasks()]


def run_scheduler(app: Flask, *, stop: threading.Event, tick_seconds: float = 1.0) -> None:
    """The scheduler loop: each tick, hand every task whose slot is new to the queue."""
    handed: dict[str, int] = {}
    while not stop.is_set():
        with app.app_context():
            queue = current_app.extensions["hub_queue"]
            for name, slot in due_slots(app):
                if handed.get(name) == slot:
                    continue
                try:
                    queue.enqueue_task(name, slot)
                    handed[name] = slot
                except Exception as exc:
                    log.warning("could not schedule %s (%s); will retry", name, type(exc).__name__)
        stop.wait(tick_seconds)


def start_embedded_scheduler(app: Flask) -> threading.Event:
    """Embedded mode: the scheduler loop on a daemon thread in the web process."""
    stop = threading.Event()
    thread = threading.Thread(
        target=run_scheduler, args=(app,), kwargs={"stop": stop}, name="hub-scheduler", daemon=True
    )
    thread.start()
    return stop
