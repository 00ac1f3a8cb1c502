"""HTML forms onto the API's marshmallow schemas: one set of rules for both doors.

A form posts flat strings (`profile.age=34`, a checkbox list sent as repeated keys); the
schemas expect JSON shapes and strict types. `load` nests and coerces by the schema's own
fields, validates, and on failure raises `Rejected` carrying the page re-rendered with the
errors next to their fields and every typed value kept. Raising (not returning) matters:
the request's transaction rolls back, so a refused form never leaves a half-written row.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from datetime import date, datetime, time
from typing import Any
from zoneinfo import ZoneInfo

from flask import current_app, render_template
from marshmallow import Schema, ValidationError, fields
from werkzeug.datastructures import MultiDict

from referral_hub.core.errors import DomainError
from referral_hub.core.schemas import StrictBoolean, StrictFloat, StrictInteger


class Rejected(Exception):
    """A form the hub refused: `response` is the page to show again (status 4xx);
    `problem` the rule's refusal, if a rule refused it (a refused access is recorded as the
    API records it, though the answer is the form again)."""

    def __init__(self, response: Any, problem: DomainError | None = None) -> None:
        super().__init__("form rejected")
        self.response = response
        self.problem = problem


class FormErrors(dict[str, list[str]]):
    """Field path (`profile.age`) → messages; `""` holds what belongs to no one field."""

    def first(self, name: str) -> str | None:
        messages = self.get(name)
        return messages[0] if messages else None

    def first_within(self, name: str) -> str | None:
        """The first message of a list field or of one of its items (`roles.1`)."""
        found = self.first(name)
        if found is None:
            items = [
                key for key in self if key.startswith(name + ".") and key[len(name) + 1 :].isdigit()
            ]
            found = self.first(sorted(items)[0]) if items else None
        return found


def flatten(messages: Any, prefix: str = "") -> FormErrors:
    """marshmallow's nested error dict → dotted field paths, as the form names them."""
    out = FormErrors()
    if isinstance(messages, Mapping):
        for key, value in messages.items():
            path = f"{prefix}.{key}" if prefix else str(key)
            if key == "_schema":
                path = prefix
            for name, found in flatten(value, path).items():
                out.setdefault(name, []).extend(found)
    elif isinstance(messages, list | tuple):
        for item in messages:
            if isinstance(item, Mapping | list | tuple):
                for name, found in flatten(item, prefix).items():
                    out.setdefault(name, []).extend(found)
            else:
                out.setdefault(prefix, []).append(str(item))
    else:
        out.setdefault(prefix, []).append(str(messages))
    return out


def _coerce(field: fields.Field[Any], raw: list[str]) -> Any:
    """One form value (or several, for a list) in the type the schema field wants."""
    if isinstance(field, fields.List):
        inner = field.inner
        return [_coerce(inner, [item]) for item in raw if item.strip() != ""]
    value = raw[-1].strip() if raw else ""
    if isinstance(field, StrictBoolean | fields.Boolean):
        return value.lower() in ("on", "true", "yes", "1")
    if isinstance(field, StrictInteger | fields.Integer):
        try:
            return int(value)
        except ValueError:
            return value  # the schema says "Not a valid integer." next to the field
    if isinstance(field, fields.AwareDateTime | fields.DateTime):
        return local_to_iso(value)
    if isinstance(field, StrictFloat | fields.Float):
        try:
            return float(value)
        except ValueError:
            return value
    return value


def display_zone() -> ZoneInfo:
    return ZoneInfo(current_app.config.get("DISPLAY_TIMEZONE") or "UTC")


def local_to_iso(value: str) -> str:
    """A browser's `datetime-local` (no offset) or `date` (end of that day) value, read in
    the hub's display zone, as an ISO time with its offset; anything else is left for
    the schema to judge."""
    try:
        if len(value) == 10:
            moment = datetime.combine(date.fromisoformat(value), time(23, 59))
        else:
            moment = datetime.fromisoformat(value)
    except ValueError:
        return value
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=display_zone())
    return moment.isoformat()


def shape(schema: Schema, form: MultiDict[str, str], prefix: str = "") -> dict[str, Any]:
    """Nest and type the posted strings by `schema`'s fields; blanks are left out."""
    data: dict[str, Any] = {}
    for name, field in schema.fields.items():
        key = field.data_key or name
        path = f"{prefix}{key}"
        if isinstance(field, fields.Nested) and isinstance(field.schema, Schema):
            if field.many:
                continue  # repeated groups are shaped by the page that has them
            inner = shape(field.schema, form, f"{path}.")
            if inner:
                data[key] = inner
            continue
        raw = form.getlist(path)
        if isinstance(field, fields.List):
            if path in form or f"{path}.present" in form:
                data[key] = _coerce(field, raw)
            continue
        if isinstance(field, StrictBoolean | fields.Boolean):
            if f"{path}.present" in form or path in form:  # an unticked box sends nothing
                data[key] = _coerce(field, raw)
            continue
        if raw and raw[-1].strip() != "":
            data[key] = _coerce(field, raw)
    return data


def load(schema: Schema, form: MultiDict[str, str], **extra: Any) -> dict[str, Any]:
    """Validate the posted form with `schema`; `extra` fields come from the page, not the user."""
    nul = sorted({key for key, value in form.items(multi=True) if "\x00" in key + value})
    if nul:  # as the JSON intake does: a NUL never reaches a column (PostgreSQL refuses it)
        raise ValidationError({key: ["Contains a NUL character."] for key in nul})
    data = shape(schema, form)
    data.update(extra)
    return schema.load(data)  # type: ignore[no-any-return]


@contextmanager
def rejecting(
    template: str,
    status: int = 422,
    *,
    later: Callable[[], dict[str, Any]] | None = None,
    **context: Any,
) -> Iterator[None]:
    """Turn a validation error or a refused rule into the same page, errors beside fields.

    The page gets `errors` (FormErrors), `problem` (one sentence for the top of the form)
    and whatever else `context` holds; the caller passes `values=request.form` so nothing
    typed is lost. `later` builds the rest of the page only when the form is refused: a
    tap that succeeds (most of them) does not pay for a page it will not show. The rules
    refuse before they write, so what `later` reads is what the page showed.
    """
    try:
        yield
    except ValidationError as error:
        errors = flatten(error.messages)
        page = render_template(
            template,
            errors=errors,
            problem="Please correct the fields marked below.",
            **_context(context, later),
        )
        raise Rejected((page, status)) from None
    except DomainError as error:
        if error.status >= 500 or error.status in (401, 404):
            raise
        errors = flatten(error.errors or {})
        page = render_template(
            template, errors=errors, problem=error.detail, **_context(context, later)
        )
        raise Rejected((page, error.status if error.status != 400 else status), error) from None


def _context(given: dict[str, Any], later: Callable[[], dict[str, Any]] | None) -> dict[str, Any]:
    return given | later() if later is not None else given
