"""Strict JSON intake: the only way a request body becomes Python data.

Python's json module accepts things other parsers read differently (NaN, duplicate keys
where the last one silently wins, lone surrogates) — exactly the gaps that let one system
see a different document than another. We refuse them all with a 400 naming the problem.
"""

from __future__ import annotations

import json
import re
from typing import Any

from referral_hub.core.errors import MalformedRequest

MAX_DEPTH = 32
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _reject_constant(name: str) -> Any:
    raise MalformedRequest(f"{name} is not valid JSON", errors={"$": [f"{name} is not allowed"]})


def _finite_float(text: str) -> float:
    value = float(text)
    if value in (float("inf"), float("-inf")):
        raise MalformedRequest("Number out of range", errors={"$": [f"{text[:20]} overflows."]})
    return value


def _no_duplicate_keys(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise MalformedRequest("Duplicate key in JSON object", errors={key: ["Duplicate key."]})
        result[key] = value
    return result


def _check_strings_and_depth(document: Any) -> None:
    """Walk iteratively (no recursion limit games) checking depth and string content."""
    stack: list[tuple[Any, int, str]] = [(document, 1, "$")]
    while stack:
        node, depth, path = stack.pop()
        if isinstance(node, dict | list) and depth > MAX_DEPTH:
            raise MalformedRequest(
                f"JSON nested deeper than {MAX_DEPTH} levels",
                errors={"$": [f"Nesting deeper than {MAX_DEPTH} levels."]},
            )
        if isinstance(node, dict):
            for key, value in node.items():
                _check_text(key, f"{path}.{key}" if _plain(key) else path)
                stack.append((value, depth + 1, f"{path}.{key}" if _plain(key) else path))
        elif isinstance(node, list):
            stack.extend((item, depth + 1, f"{path}[{i}]") for i, item in enumerate(node))
        elif isinstance(node, str):
            _check_text(node, path)


def _plain(key: str) -> bool:
    return key.isidentifier() and len(key) <= 64


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise MalformedRequest("NUL characters are not allowed", errors={path: ["Contains NUL."]})
    if _LONE_SURROGATE.search(text):
        raise MalformedRequest(
            "Unpaired surrogate in string", errors={path: ["Contains an unpaired surrogate."]}
        )


def loads_strict(body: bytes) -> Any:
    """Parse a request body, or raise MalformedRequest saying what is wrong with it."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        raise MalformedRequest(
            "Body is not valid UTF-8", errors={"$": ["Not valid UTF-8."]}
        ) from None
    if text.startswith("\ufeff"):
        raise MalformedRequest(
            "Byte order mark is not allowed", errors={"$": ["Starts with a BOM."]}
        )
    try:
        document = json.loads(
            text,
            parse_constant=_reject_constant,
            parse_float=_finite_float,
            object_pairs_hook=_no_duplicate_keys,
        )
    except MalformedRequest:
        raise
    except RecursionError:
        raise MalformedRequest(
            f"JSON nested deeper than {MAX_DEPTH} levels",
            errors={"$": [f"Nesting deeper than {MAX_DEPTH} levels."]},
        ) from None
    except ValueError as exc:
        if not isinstance(exc, json.JSONDecodeError):  # e.g. an integer of 5,000 digits
            raise MalformedRequest(
                "Number out of range", errors={"$": ["Number too long."]}
            ) from None
        raise MalformedRequest(
            "Body is not valid JSON",
            errors={"$": [f"{exc.msg} at line {exc.lineno} column {exc.colno}."]},
        ) from None
    _check_strings_and_depth(document)
    return document
