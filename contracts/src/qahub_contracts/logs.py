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


_AMQP_LOGGERS: Final = ("aiormq.connection", "aio_pika.tools", "aio_pika.robust_connection")


class BrokerDropFilter(logging.Filter):
    """The AMQP client's records about a lost or refused connection, as one quiet line.

    Such a record becomes ``<client> connection dropped: <error>`` at WARNING,
    without traceback (and without formatting the client's own objects, whose
    ``repr`` can fail). Any other record passes unchanged: a malformed frame is
    a bug worth its traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        error = record.exc_info[1] if record.exc_info else _error_in(record.args)
        if error is None and record.name == "aiormq.connection":
            _at_most_warning(record)  # "Unexpected connection close from remote": the broker's
            return True
        if error is None or not _is_drop(error):
            return True
        record.msg = (
            f"{record.name.split('.')[0]} connection dropped: {type(error).__name__}: {error}"
        )
        record.args, record.exc_info, record.exc_text = None, None, None
        _at_most_warning(record)
        return True


def _at_most_warning(record: logging.LogRecord) -> None:
    if record.levelno > logging.WARNING:
        record.levelno, record.levelname = logging.WARNING, "WARNING"


def _error_in(args: object) -> BaseException | None:
    if isinstance(args, tuple):
        return next((a for a in args if isinstance(a, BaseException)), None)
    return None


def _is_drop(error: BaseException) -> bool:
    """A connection that closed or could not open (aio-pika says "<Connection ...> closed")."""
    from aiormq.exceptions import AMQPConnectionError, ConnectionClosed  # noqa: PLC0415

    drops = (AMQPConnectionError, ConnectionClosed, ConnectionError, OSError, TimeoutError)
    if isinstance(error, drops):
        return True
    return isinstance(error, RuntimeError) and str(error).endswith(" closed")


def quiet_broker_drops() -> None:
    """Install :class:`BrokerDropFilter` on the AMQP client's loggers (once per process)."""
    for name in _AMQP_LOGGERS:
        logger = logging.getLogger(name)
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
