"""The console's logs on stderr: one format and level for the console and uvicorn alike.

``text`` is the project's line, ``<local time> LEVEL logger: message`` (as the edge writes);
``json`` is one JSON object per line: ``time`` (ISO 8601, UTC, milliseconds), ``level``,
``logger``, ``message``, and ``exception`` (the traceback) when the record has one, for a
log shipper. :func:`configure` applies it and returns the same configuration for uvicorn's
``log_config``, so its access and error logs come out in the same form.
"""

from __future__ import annotations

import json
import logging
import logging.config
from datetime import UTC, datetime
from typing import Any, Literal

LogFormat = Literal["text", "json"]
LogLevel = Literal["DEBUG", "INFO", "WARNING", "ERROR"]
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
UVICORN_LOGGERS = ("uvicorn", "uvicorn.error", "uvicorn.access")


class JsonFormatter(logging.Formatter):
    """A record as one line of JSON (no newline inside: tracebacks are escaped)."""

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, str] = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            out["exception"] = self.formatException(record.exc_info)
        elif record.exc_text:
            out["exception"] = record.exc_text
        if record.stack_info:
            out["stack"] = self.formatStack(record.stack_info)
        return json.dumps(out, ensure_ascii=False)


def log_config(level: LogLevel, fmt: LogFormat) -> dict[str, Any]:
    """The ``logging.config.dictConfig`` for ``level`` and ``fmt``: one stderr handler on the
    root logger; uvicorn's loggers hand their records to it (their own handlers removed)."""
    if fmt not in ("text", "json"):
        raise ValueError(f"expected log format 'text' or 'json', got {fmt!r}")
    formatter: dict[str, Any] = {"()": JsonFormatter} if fmt == "json" else {"format": TEXT_FORMAT}
    return {
        "version": 1,
        "disable_existing_loggers": False,  # the console's modules made theirs at import
        "formatters": {"sitewatch": formatter},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "sitewatch",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"level": level, "handlers": ["stderr"]},
        "loggers": {
            name: {"level": level, "handlers": [], "propagate": True} for name in UVICORN_LOGGERS
        },
    }


def configure(level: LogLevel, fmt: LogFormat) -> dict[str, Any]:
    """Apply :func:`log_config` to this process; returns it (pass it to uvicorn)."""
    config = log_config(level, fmt)
    logging.config.dictConfig(config)
    return config
