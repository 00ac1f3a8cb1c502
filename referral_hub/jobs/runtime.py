"""Running job functions with an application: the caller's, or the one its worker process built."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, has_app_context

from referral_hub.core.db import current_session

F = TypeVar("F", bound=Callable[..., Any])
_process_app: Flask | None = None


def set_process_app(app: Flask) -> None:
    """The worker or scheduler process registers the app it already built."""
    global _process_app
    _process_app = app


def _app() -> Flask:
    if _process_app is None:  # jobs sit below the app: they never build one themselves
        raise RuntimeError(
            "no app registered for jobs in this process: start workers with "
            "`flask hub worker` or `python -m referral_hub.worker`, which register theirs"
        )
    return _process_app


def app_job(fn: F) -> F:
    """Give a job function an app context and a fresh session; keeps its import path for rq."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_app_context():  # tests and in-process runners reuse the caller's app
            return fn(*args, **kwargs)
        with _app().app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                current_session().remove()

    return cast(F, wrapper)
