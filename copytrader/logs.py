"""Logging set-up: human-readable text by default, JSON lines for log shippers.

A redaction filter on the root handler replaces every configured secret (the access tokens) in
every record, whatever module logged it -- the last line of defence behind ``Secret``.
"""

from __future__ import annotations

import json
import logging
import sys
import time
from collections.abc import Iterable

from dhan.errors import redact


class RedactingFilter(logging.Filter):
    """Scrubs the given secrets out of each record's final message."""

    def __init__(self, secrets: Iterable[str]) -> None:
        super().__init__()
        self.secrets: list[str] = []
        self.add(secrets)

    def add(self, secrets: Iterable[str]) -> None:
        """Scrub these too (a SIGHUP reload brings rotated tokens); old ones stay scrubbed."""
        known = set(self.secrets)
        self.secrets = self.secrets + [s for s in secrets if s and len(s) >= 4 and s not in known]

    def filter(self, record: logging.LogRecord) -> bool:
        if self.secrets:
            message = record.getMessage()
            cleaned = redact(message, self.secrets)
            if cleaned != message or record.args:
                record.msg, record.args = cleaned, None
            if record.exc_info:
                text = logging.Formatter().formatException(record.exc_info)
                record.exc_text = redact(text, self.secrets)
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: ts, level, logger, message (+ exc)."""

    def format(self, record: logging.LogRecord) -> str:
        out = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
            "thread": record.threadName,
        }
        if record.exc_info and not record.exc_text:
            record.exc_text = self.formatException(record.exc_info)
        if record.exc_text:
            out["exc"] = record.exc_text
        return json.dumps(out, ensure_ascii=False)


def setup_logging(level: str = "INFO", fmt: str = "text", secrets: Iterable[str] = ()) -> None:
    """Configure the root logger once (idempotent: replaces earlier handlers)."""
    handler = logging.StreamHandler(sys.stderr)
    if fmt == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(
            logging.Formatter("%(asctime)s %(levelname)-7s %(name)s: %(message)s", "%H:%M:%S")
        )
    handler.addFilter(RedactingFilter(secrets))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level.upper())
    # urllib3 logs full URLs at DEBUG; they never carry tokens, but keep the noise down
    logging.getLogger("urllib3").setLevel(logging.WARNING)
    # alembic says "Will assume non-transactional DDL" on every start at INFO: misleading (the
    # migrations run in one transaction, store/README.md); its warnings still show
    logging.getLogger("alembic").setLevel(logging.WARNING)


def add_secrets(secrets: Iterable[str]) -> None:
    """Add secrets to the redaction filter of every handler ``setup_logging`` installed."""
    for handler in logging.getLogger().handlers:
        for f in handler.filters:
            if isinstance(f, RedactingFilter):
                f.add(secrets)
