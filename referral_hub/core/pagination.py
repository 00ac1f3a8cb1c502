"""Keyset (cursor) pagination: stable under inserts, cheap at any depth.

The cursor is the sort key of the last item, signed so a client cannot hand us garbage
that turns into a database error.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from flask import current_app
from itsdangerous import BadSignature, URLSafeSerializer
from sqlalchemy import Select, and_, or_
from sqlalchemy.orm import InstrumentedAttribute

from referral_hub.core.db import current_session
from referral_hub.core.errors import ValidationFailed


def _serializer() -> URLSafeSerializer:
    return URLSafeSerializer(current_app.config["SECRET_KEY"], salt="cursor")


def encode_cursor(values: Sequence[Any]) -> str:
    return str(_serializer().dumps([_plain(v) for v in values]))


def decode_cursor(cursor: str) -> list[Any]:
    try:
        values = _serializer().loads(cursor)
    except BadSignature:
        raise ValidationFailed(
            "The cursor is not one this hub issued.", errors={"cursor": ["Invalid cursor."]}
        ) from None
    if not isinstance(values, list):
        raise ValidationFailed(errors={"cursor": ["Invalid cursor."]})
    return values


def _plain(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else str(value)


def paginate(
    statement: Select[Any],
    keys: Sequence[InstrumentedAttribute[Any]],
    limit: int,
    cursor: str | None,
    parse: Sequence[Callable[[str], Any]],
) -> tuple[list[Any], str | None]:
    """Rows after `cursor` ordered ascending by `keys`; `parse` turns cursor text back."""
    if cursor:
        raw = decode_cursor(cursor)
        if len(raw) != len(keys):
            raise ValidationFailed(errors={"cursor": ["Invalid cursor."]})
        try:
            values = [convert(item) for convert, item in zip(parse, raw, strict=True)]
        except (TypeError, ValueError):
            raise ValidationFailed(errors={"cursor": ["Invalid cursor."]}) from None
        statement = statement.where(_after(keys, values))
    rows = list(current_session().scalars(statement.order_by(*keys).limit(limit + 1)))
    if len(rows) <= limit:
        return rows, None
    rows = rows[:limit]
    last = rows[-1]
    return rows, encode_cursor([getattr(last, key.key) for key in keys])


def _after(keys: Sequence[InstrumentedAttribute[Any]], values: Sequence[Any]) -> Any:
    """(k1, k2) > (v1, v2) written out, since row-value comparison differs across databases."""
    clauses = []
    for index, key in enumerate(keys):
        equal_prefix = [keys[i] == values[i] for i in range(index)]
        clauses.append(and_(*equal_prefix, key > values[index]))
    return or_(*clauses)
