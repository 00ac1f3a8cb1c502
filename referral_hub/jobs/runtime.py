"""Running job functions with an application: reuse the caller's, or build one per process."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar, cast

from flask import Flask, has_app_context

F = TypeVar("F", bound=Callable[..., Any])
_process_app: Flask | None = None


def set_process_app(app: Flask) -> None:
    """The worker or scheduler process registers the app it already built."""
    global _process_app
    _process_app = app


def _app() -> Flask:
    global _process_app
    if _process_app is None:
        from referral_hub import create_app

        _process_app = create_app()
    return _process_app


def app_job(fn: F) -> F:
    """Give a job function an app context and a fresh session; keeps its import path for rq."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if has_app_context():  # tests and in-process runners reuse the caller's app
            return fn(*args, **kwargs)
        from referral_hub.extensions import db

        with _app().app_context():
            try:
                return fn(*args, **kwargs)
            finally:
                db.session.remove()

    return cast(F, wrapper)
