"""QaHub stream-relay: SSE fan-out and Last-Event-ID replay from the RabbitMQ event log.

Public surface: :func:`create_app` (an ASGI app for given settings),
:class:`RelaySettings` / :func:`load_settings` (validated configuration) and
``python -m stream_relay`` (``stream_relay.__main__.main``).
"""

from stream_relay.app import create_app
from stream_relay.settings import ConfigError, RelaySettings, load_settings

__all__ = ["ConfigError", "RelaySettings", "create_app", "load_settings"]
