"""One log format for both services: every line, uvicorn's own included.

A broker that closes a connection or cannot be reached is an expected
condition (DESIGN §2: no traceback for it): :func:`quiet_broker_drops` makes
the AMQP client's own lines about it one line each, at WARNING at most; the
services log what they do about it themselves.

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

__all__ = [
    "LOG_FORMAT",
    "BrokerDropFilter",
    "access_line",
    "configure_logging",
    "printable",
    "quiet_broker_drops",
    "uvicorn_log_config",
]

LOG_FORMAT: Final = "%(asctime)s %(levelname)s %(name)s %(message)s"
"""``2026-12-06 10:00:00,123 INFO notifications_api.access 127.0.0.1 "GET /x" 200 1.2ms``."""

_UVICORN_LOGGERS: Final = ("uvicorn", "uvicorn.error", "uvicorn.access", "uvicorn.asgi")


_AMQP_CLIENT: Final = "aiormq.connection"


class BrokerDropFilter(logging.Filter):
    """The AMQP client's records about a lost or refused connection, as one quiet line.

    A traceback stays only for an error that is not a connection failure (a
    malformed frame is a bug worth its traceback).
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else None
        if error is not None:
            if not isinstance(error, _connection_errors()):
                return True
            record.exc_info, record.exc_text = None, None
            record.msg = f"{record.msg}: {type(error).__name__}: {error}"
        if record.levelno > logging.WARNING:
            record.levelno, record.levelname = logging.WARNING, "WARNING"
        return True


def _connection_errors() -> tuple[type[BaseException], ...]:
    from aiormq.exceptions import AMQPConnectionError, ConnectionClosed  # noqa: PLC0415

    return (AMQPConnectionError, ConnectionClosed, ConnectionError, OSError, TimeoutError)


def quiet_broker_drops() -> None:
    """Install :class:`BrokerDropFilter` on the AMQP client's logger (once per process)."""
    logger = logging.getLogger(_AMQP_CLIENT)
    if not any(isinstance(f, BrokerDropFilter) for f in logger.filters):
        logger.addFilter(BrokerDropFilter())


def configure_logging(level: int | str = logging.INFO) -> None:
    """Route every logger (uvicorn's too) through one root handler in :data:`LOG_FORMAT`."""
    logging.basicConfig(level=level, format=LOG_FORMAT)
    quiet_broker_drops()
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
