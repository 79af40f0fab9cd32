"""Structured logs: one JSON object per line on stderr, the app's lines and gunicorn's.

Only the standard library here: gunicorn's master imports this module (through
gunicorn_logconfig) before any of the app is loaded.
"""

from __future__ import annotations

import json
import logging
import sys
import time

# Attributes every LogRecord has; anything else was passed with extra= and is logged.
_STANDARD = set(vars(logging.makeLogRecord({}))) | {"message", "asctime", "taskName"}


class JSONFormatter(logging.Formatter):
    """Format a record as one JSON line: time, level, logger, message and the extra fields."""

    def format(self, record: logging.LogRecord) -> str:
        document = {
            "ts": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        document.update((key, value) for key, value in vars(record).items() if key not in _STANDARD)
        if record.exc_info:
            document["exception"] = self.formatException(record.exc_info)
        return json.dumps(document, default=str)


def configure(level: int = logging.INFO) -> None:
    """Send the 'app' loggers to stderr as JSON lines (idempotent)."""
    logger = logging.getLogger("app")
    if any(isinstance(h.formatter, JSONFormatter) for h in logger.handlers):
        return
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JSONFormatter())
    logger.addHandler(handler)
    logger.setLevel(level)
    logger.propagate = False


def gunicorn_logconfig(level: str) -> dict:
    """gunicorn's `logconfig_dict`: its own lines (master and workers) as JSON too.

    Without it gunicorn writes plain text ("[INFO] Booting worker with pid: 7") beside
    the app's JSON, and a log pipeline has to parse two formats. gunicorn merges this
    over its defaults; the loggers do not propagate, so no line is written twice.
    """
    handler = {
        "class": "logging.StreamHandler",
        "formatter": "json",
        "stream": "ext://sys.stderr",
    }
    logger = {"level": level.upper(), "handlers": ["json"], "propagate": False}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"json": {"()": JSONFormatter}},
        "handlers": {"json": handler},
        # Anything else that logs (a library) goes out as JSON as well.
        "root": {"level": "WARNING", "handlers": ["json"]},
        "loggers": {"gunicorn.error": logger},
    }
