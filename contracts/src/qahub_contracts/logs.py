"""One log format for both services: every line, uvicorn's own included.

``configure_logging`` sets the root format; ``uvicorn_log_config`` is what a
service passes to ``uvicorn.Config(log_config=...)`` so that uvicorn's loggers
write through the same handler instead of their own ``INFO:     `` format.
``access_line`` logs the one line per request (or connection) both services
write; it never contains a query string (it may hold a token, DESIGN §3) and
escapes control characters, so a crafted path cannot forge a line.
"""

from __future__ import annotations

import logging
from typing import Any, Final

__all__ = ["LOG_FORMAT", "access_line", "configure_logging", "printable", "uvicorn_log_config"]

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""``2026-12-06 10:00:00,123 INFO notifications_api.access 127.0.0.1 "GET /x" 200 1.2ms``."""

_UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


def configure_logging(level: int | str = logging.INFO) -> None:
    """Route every logger (uvicorn's too) through one root handler in :data:`LOG_FORMAT`."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    for name in _UVICORN_LOGGERS:
        logger = logging.getLogger(name)
        logger.handlers.clear()
        logger.propagate = True


def uvicorn_log_config(level: int | str = logging.INFO) -> dict[str, Any]:
    """A ``logging.config`` dict for uvicorn: its loggers propagate to the root handler.

    uvicorn applies it when it starts, so it also undoes the handlers its
    default configuration would have installed.
    """
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"default": {"format": LOG_FORMAT}},
        "handlers": {
            "default": {
                "class": "logging.StreamHandler",
                "formatter": "default",
                "stream": "ext://sys.stderr",
            }
        },
        "root": {"handlers": ["default"], "level": level},
        "loggers": {
            name: {"handlers": [], "propagate": True, "level": level} for name in _UVICORN_LOGGERS
        },
    }


def printable(text: str) -> str:
    """``text`` with control characters escaped (``\\x0a``), so it stays on one line."""
    if text.isprintable():
        return text
    return "".join(c if c.isprintable() else f"\\x{ord(c):02x}" for c in text)


def access_line(
    logger: logging.Logger, client: str, method: str, path: str, *, status: int, seconds: float
) -> None:
    """Log ``client "METHOD path" status 1.2ms`` at INFO (``path`` without its query)."""
    if logger.isEnabledFor(logging.INFO):
        logger.info(
            '%s "%s %s" %d %.1fms',
            client,
            printable(method),
            printable(path),
            status,
            seconds * 1000,
        )
