"""Logging set-up: one clear line per event on stderr, and secrets scrubbed as a last line of defence.

The code never passes a token to a log call. The formatter still replaces every secret the
process has seen (the hub API token, the latest access tokens) in the final text, so a
message from a library or a traceback can never carry one into the pod's logs either.
"""

from __future__ import annotations

import logging
import sys
import threading
from collections import deque
from typing import TextIO

FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"
DATE_FORMAT = "%Y-%m-%dT%H:%M:%S%z"
REDACTED = "[redacted]"
# Shorter strings would blank out ordinary words; real tokens are far longer.
MIN_SECRET_LENGTH = 8


class SecretRedactor:
    """The secrets to scrub: fixed ones (the API token) and the few latest access tokens."""

    def __init__(self, recent: int = 4) -> None:
        self._lock = threading.Lock()
        self._fixed: set[str] = set()
        self._recent: deque[str] = deque(maxlen=recent)

    def add(self, secret: str, *, fixed: bool = False) -> None:
        if len(secret) < MIN_SECRET_LENGTH:
            return
        with self._lock:
            if fixed:
                self._fixed.add(secret)
            elif secret not in self._recent:
                self._recent.append(secret)

    def redact(self, text: str) -> str:
        with self._lock:
            secrets = [*self._fixed, *self._recent]
        # Longest first, so a secret that contains another is replaced whole.
        for secret in sorted(secrets, key=len, reverse=True):
            if secret in text:
                text = text.replace(secret, REDACTED)
        return text


redactor = SecretRedactor()


def register_secret(secret: str, *, fixed: bool = False) -> None:
    """Make sure this string never appears in a log line."""
    redactor.add(secret, fixed=fixed)


class RedactingFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        return redactor.redact(super().format(record))


def setup_logging(level: str, stream: TextIO | None = None) -> None:
    """Send every log record to stderr through the redacting formatter."""
    handler = logging.StreamHandler(stream if stream is not None else sys.stderr)
    handler.setFormatter(RedactingFormatter(FORMAT, DATE_FORMAT))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # httpx logs every request at INFO and httpcore every header write at DEBUG: neither is
    # useful here, and headers are where the API token travels.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    logging.getLogger("asyncio").setLevel(max(root.level, logging.INFO))
