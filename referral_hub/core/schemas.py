"""Schema conventions: unknown fields refused, problem and page shapes, type-error detection."""

from __future__ import annotations

from typing import Any

from marshmallow import RAISE, Schema, fields, validate


class StrictBoolean(fields.Boolean):
    """JSON true/false only: no "yes", no 1 (marshmallow's Boolean takes both)."""

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> bool:
        if not isinstance(value, bool):
            raise self.make_error("invalid", input=value)
        return value


class StrictInteger(fields.Integer):
    """JSON numbers only: "3" is a string, not a number (marshmallow would cast it)."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(strict=True, **kwargs)

    def _deserialize(self, value: Any, attr: str | None, data: Any, **kwargs: Any) -> Any:
        if isinstance(value, str | bool):
            raise self.make_error("invalid", input=value)
        return super()._deserialize(value, attr, data, **kwargs)


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
    for cls, types in _JSON_TYPES:
        if isinstance(field, cls):
            if bool not in types and isinstance(value, bool):
                return False
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
