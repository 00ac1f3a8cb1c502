"""Another tenant's object must look exactly like a missing one — but be on the record."""

from __future__ import annotations

import uuid

from flask import g, has_request_context

from referral_hub.core.errors import Forbidden, NotFound


def foreign(subject_type: str, subject_id: uuid.UUID | str) -> NotFound:
    """The NotFound to raise for an object that exists but belongs to someone else.

    The caller sees the same 404 as for a missing id; the hub records the attempt
    (`access.denied`) once the request has rolled back.
    """
    if has_request_context():
        g.foreign_subject = (subject_type, str(subject_id))
    return NotFound()


def refused(subject_type: str, subject_id: uuid.UUID | str, detail: str) -> Forbidden:
    """The Forbidden to raise for an object the caller may see but not change.

    The hub records the refusal (`access.denied`, naming the object) once the request has
    rolled back, as for `foreign`.
    """
    if has_request_context():
        g.foreign_subject = (subject_type, str(subject_id))
    return Forbidden(detail)
