"""Guard for places that must never hold survivor data: audit details, outbox payloads.

They may carry ids, statuses, counts and category names. A key that names personal data,
or a long free-text value, is a programming error and fails loudly in tests.
"""

from __future__ import annotations

import re
from typing import Any

FORBIDDEN_KEYS = re.compile(
    r"(?i)^(name|first_name|last_name|full_name|dob|date_of_birth|birth_date|phone|address"
    r"|contact|narrative|story|immigration|health|justice|body|message|note|answer|question"
    r"|pii|ssn|passport|email_body)$"
)
MAX_TEXT = 200


def assert_no_pii(value: Any, *, where: str, path: str = "$") -> None:
    """Raise ValueError if `value` has a PII-named key, free text, or a non-JSON type."""
    if isinstance(value, dict):
        for key, item in value.items():
            if not isinstance(key, str):
                # one error type for every refusal, as the docstring says: ValueError, not TypeError
                raise ValueError(f"{where}: key at {path} is not a string")  # noqa: TRY004
            if FORBIDDEN_KEYS.match(key):
                raise ValueError(f"{where}: key {key!r} at {path} would carry personal data")
            assert_no_pii(item, where=where, path=f"{path}.{key}")
    elif isinstance(value, list | tuple):
        for index, item in enumerate(value):
            assert_no_pii(item, where=where, path=f"{path}[{index}]")
    elif isinstance(value, str):
        if len(value) > MAX_TEXT:
            raise ValueError(f"{where}: text at {path} is longer than {MAX_TEXT} characters")
    elif value is not None and not isinstance(value, bool | int):
        raise ValueError(f"{where}: {type(value).__name__} at {path} (use str, int, bool)")
