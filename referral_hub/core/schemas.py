"""Schema conventions: unknown fields refused, problem and page shapes, type-error detection."""

from __future__ import annotations

import re
from typing import Any, cast

from marshmallow import RAISE, Schema, ValidationError, fields, validate


class StrictBoolean(fields.Boolean):
    """JSON true/false only: no "yes", no 1 (marshmallow's Boolean takes both)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(fields.Integer):
    """JSON numbers only: "3" is a string, not a number (marshmallow would cast it).

    `3.0` is the integer 3, as JSON Schema (and so the OpenAPI 3.1 document) counts
    integers; `3.5` is not an integer.
    """

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str | bool):
            raise self.make_error("invalid", input=value)
        if _integral_float(value):
            value = int(value)
        return super()._deserialize(value, attr, data, **kwargs)


def _integral_float(value: Any) -> bool:
    return isinstance(value, float) and value.is_integer()


class Pattern(validate.Regexp):
    """A regular expression the whole value must match, as JSON Schema reads `pattern`.

    `validate.Regexp` uses `re.match`, and Python's `$` also matches before a final
    newline: "en\\n" passed `^[a-z]{2}$` and was stored with its newline.
    """

    def __call__(self, value: Any) -> Any:
        regex = cast("re.Pattern[str]", self.regex)  # built from a str pattern
        found = regex.match(value) if isinstance(value, str) else None
        if found is None or found.end() != len(value):
            raise ValidationError(self._format_error(value))
        return value


_PCHAR = r"([A-Za-z0-9._~!$&'()*+,;=:@-]|%[0-9A-Fa-f]{2})"  # RFC 3986 pchar
# an http(s) URL: an ASCII host name or IPv4 address, optional port, path, query, fragment.
# The validator and the document's `pattern` are this one expression, so what the document
# calls valid is what the hub accepts (marshmallow's Url took "https://\u00cf" and refused
# "https://0.a", and its OpenAPI "format: url" told a client neither). Kept plain: label
# length limits or an IPv6 alternative made generating examples of it take seconds.
HTTP_URL = Pattern(
    r"^https?://[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)*(:[0-9]{1,5})?"
    rf"(/{_PCHAR}*)*(\?({_PCHAR}|[/?])*)?(#({_PCHAR}|[/?])*)?$",
    error="Not an http or https URL.",
)


class StrictFloat(fields.Float):
    """JSON numbers only, for bodies; query strings keep the lenient Float."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str | bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


class HubSchema(Schema):
    """Base for every input and output schema: a field we do not know is an error."""

    class Meta:
        unknown = RAISE


class ProblemSchema(HubSchema):
    """RFC 9457 problem details as this hub sends them."""

    type = fields.String(required=True, metadata={"description": "Link to a page on the code."})
    title = fields.String(required=True)
    status = fields.Integer(required=True)
    detail = fields.String(required=True)
    code = fields.String(required=True, metadata={"description": "Machine-readable error code."})
    errors = fields.Dict(
        keys=fields.String(),
        values=fields.List(fields.String()),
        metadata={"description": "Messages per field at fault (dotted path for nested)."},
    )
    request_id = fields.String(allow_none=True)


class PageArgs(HubSchema):
    """`?limit=&cursor=` for every list."""

    limit = fields.Integer(load_default=50, validate=validate.Range(min=1, max=200))
    cursor = fields.String(load_default=None, validate=validate.Length(max=512))


def page_schema(item: type[Schema], name: str) -> type[Schema]:
    """`{"items": [...], "next_cursor": str | null}` for a given item schema."""
    return type(
        name,
        (HubSchema,),
        {
            "items": fields.List(fields.Nested(item), required=True),
            "next_cursor": fields.String(allow_none=True, required=True),
        },
    )


# JSON types each field class expects; a value of another JSON type is a 400, not a 422.
_JSON_TYPES: list[tuple[type[fields.Field[Any]], tuple[type, ...]]] = [
    (fields.Boolean, (bool,)),  # StrictBoolean included
    (fields.Integer, (int,)),
    (fields.Float, (int, float)),
    (fields.Decimal, (int, float)),
    (fields.Nested, (dict, list)),
    (fields.Dict, (dict,)),
    (fields.List, (list,)),
    (fields.Tuple, (list,)),
    (fields.String, (str,)),
    (fields.UUID, (str,)),
    (fields.DateTime, (str,)),
    (fields.Date, (str,)),
    (fields.Enum, (str,)),
]


def _type_ok(field: fields.Field[Any], value: Any) -> bool:
    if value is None:
        return True  # a null is a value problem (required / not nullable), not a type one
    if isinstance(field, fields.Nested):  # one object, or a list of them when `many`
        return isinstance(value, list if field.many else dict)
    for cls, types in _JSON_TYPES:
        if isinstance(field, cls):
            if bool not in types and isinstance(value, bool):
                return False
            if cls is fields.Integer and _integral_float(value):
                return True
            return isinstance(value, types)
    return True


def has_type_mismatch(schema: Schema, data: Any, messages: Any) -> bool:
    """True when any field at fault holds a value of the wrong JSON type (so: 400)."""
    if not isinstance(data, dict) or not isinstance(messages, dict):
        return not isinstance(data, dict)
    for name, message in messages.items():
        field = schema.fields.get(name) or next(
            (f for f in schema.fields.values() if f.data_key == name), None
        )
        if field is None or name not in data:
            continue
        value = data[name]
        if not _type_ok(field, value):
            return True
        if isinstance(field, fields.Nested) and isinstance(message, dict):
            nested = field.schema
            items = value if isinstance(value, list) else [value]
            sub_messages = message.values() if field.many else [message]
            for item, sub in zip(items, sub_messages, strict=False):
                if has_type_mismatch(nested, item, sub):
                    return True
        if isinstance(field, fields.List) and isinstance(message, dict):
            inner = field.inner
            for index, sub in message.items():
                if isinstance(index, int) and index < len(value):
                    if not _type_ok(inner, value[index]):
                        return True
                    if isinstance(inner, fields.Nested) and has_type_mismatch(
                        inner.schema, value[index], sub
                    ):
                        return True
    return False


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested message dicts → `{"needs.0.category": ["..."]}`."""
    flat: dict[str, list[str]] = {}
    if isinstance(messages, dict):
        for key, value in messages.items():
            key = "$" if key == "_schema" else key  # marshmallow's name for "the whole body"
            path = f"{prefix}.{key}" if prefix else str(key)
            flat.update(flatten_messages(value, path))
    elif isinstance(messages, list) and all(isinstance(m, str) for m in messages):
        flat[prefix or "$"] = list(messages)
    elif isinstance(messages, list):
        for index, value in enumerate(messages):
            flat.update(flatten_messages(value, f"{prefix}.{index}" if prefix else str(index)))
    else:
        flat[prefix or "$"] = [str(messages)]
    return flat
