"""JSON log lines with the request id, and a filter that keeps survivor data out of logs.

Logs leave the hub (log shippers, support tickets); the audit chain is where actions are
recorded. So log ids and references only, and redact anything shaped like personal data
that slips into a message anyway.
"""

from __future__ import annotations

import json
import logging
import re
import sys
from typing import Any

from referral_hub.core.requestid import current_request_id

_PATTERNS = [
    (re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+"), r"\1 [redacted]"),
    (re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}"), "[email]"),
    # a phone number stands alone: digits inside a word (a migration id such as
    # 5982484095ee, a hex digest) are not one
    (re.compile(r"(?<![\w+])\+?\d[\d\s().-]{7,}\d(?!\w)"), "[number]"),
    (re.compile(r"(?i)\b(password|secret|token|pii|narrative|name|dob)=\S+"), r"\1=[redacted]"),
]
_SENSITIVE_KEYS = re.compile(
    r"(?i)(password|secret|token|authorization|cookie|pii|name|dob|birth|contact|phone|email"
    r"|address|narrative|immigration|health|justice|body|note|answer|question)"
)
_STANDARD_ATTRS = set(vars(logging.makeLogRecord({}))) | {"message", "asctime"}


# ids and hashes are what logs are for; keep them whole while scrubbing around them
_IDENTIFIERS = re.compile(
    r"([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}|[0-9a-f]{32,64})"
)


def redact_text(text: str) -> str:
    parts = _IDENTIFIERS.split(text)
    for index in range(0, len(parts), 2):  # even positions are the text between identifiers
        for pattern, replacement in _PATTERNS:
            parts[index] = pattern.sub(replacement, parts[index])
    return "".join(parts)


class RedactingFilter(logging.Filter):
    """Scrubs the rendered message and any `extra=` fields whose names suggest PII."""

    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a bad format string must not lose the line
            message = str(record.msg)
        record.msg = redact_text(message)
        record.args = None
        for key in list(vars(record)):
            if key not in _STANDARD_ATTRS and _SENSITIVE_KEYS.search(key):
                setattr(record, key, "[redacted]")
        return True


class RequestIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id.get()
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request id, extras."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": self.formatTime(record, "%Y-%m-%dT%H:%M:%S") + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
            "request_id": getattr(record, "request_id", None),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD_ATTRS and key not in entry and not key.startswith("_"):
                entry[key] = value if isinstance(value, str | int | float | bool) else str(value)
        if record.exc_info:
            entry["exception"] = redact_text(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


JsonFormatter.converter = __import__("time").gmtime


def configure_logging(level: str = "INFO", json_lines: bool = True) -> None:
    """Install one root handler (before rq or gunicorn add their own) with both filters."""
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RequestIdFilter())
    handler.addFilter(RedactingFilter())
    handler.setFormatter(
        JsonFormatter()
        if json_lines
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s")
    )
    root = logging.getLogger()
    for existing in list(root.handlers):
        if getattr(existing, "_referral_hub", False):
            root.removeHandler(existing)
    handler._referral_hub = True  # type: ignore[attr-defined]
    root.addHandler(handler)
    root.setLevel(level)
