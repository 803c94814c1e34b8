"""A RabbitMQ virtual host of one stack's own, made and dropped through the management API.

The system's exchange and event-log stream have fixed names (``qahub_contracts.topology``),
so two stacks on one broker are kept apart by giving each its own vhost: the API and the
relay of a stack only ever see that vhost's stream. The management API is found at
``RABBITMQ_MANAGEMENT_URL``, else port 15672 of the broker's host, with the AMQP URL's
user and password. Where it does not answer, the stack runs on the URL's vhost as given
and says so in a warning log line: it is then isolated only if that vhost is its own.
"""

from __future__ import annotations

import logging
import os
import time
import uuid
from dataclasses import dataclass
from urllib.parse import quote, unquote, urlsplit, urlunsplit

__all__ = ["VirtualHost"]

_log = logging.getLogger("qahub_notify.testing")
_PERMISSIONS = {"configure": ".*", "write": ".*", "read": ".*"}


@dataclass
class VirtualHost:
    """The vhost a stack runs on; ``owned`` when the stack made it (and so drops it)."""

    amqp_url: str
    management_url: str
    name: str
    owned: bool

    @classmethod
    def create(cls, broker_url: str) -> VirtualHost:
        """A fresh vhost on the broker at ``broker_url``, or that URL as is if none can be made."""
        import httpx  # noqa: PLC0415 - the pytest plugin loads this package: keep that cheap

        parts = urlsplit(broker_url)
        management = os.environ.get("RABBITMQ_MANAGEMENT_URL") or (
            f"http://{parts.hostname or '127.0.0.1'}:15672"
        )
        name = f"qahub-stack-{uuid.uuid4().hex[:12]}"
        vhost_url = urlunsplit(parts._replace(path="/" + quote(name, safe="")))
        vhost = cls(vhost_url, management, name, owned=True)
        try:
            vhost._put(unquote(parts.username or "guest"))
        except httpx.HTTPError as exc:
            vhost.delete(attempts=1)
            _log.warning(
                "no vhost of its own for this stack (%s: %s): it uses the broker URL's vhost "
                "as given, shared with anything else on it; enable rabbitmq_management or "
                "set RABBITMQ_MANAGEMENT_URL",
                management,
                exc,
            )
            given = unquote(parts.path.removeprefix("/")) or "/"
            return cls(broker_url, management, given, owned=False)
        return vhost

    def _put(self, user: str) -> None:
        import httpx  # noqa: PLC0415 - as above

        api, name = f"{self.management_url.rstrip('/')}/api", quote(self.name, safe="")
        with httpx.Client(auth=_auth(self.amqp_url), timeout=10) as http:
            http.put(f"{api}/vhosts/{name}").raise_for_status()
            permissions = f"{api}/permissions/{name}/{quote(user, safe='')}"
            http.put(permissions, json=_PERMISSIONS).raise_for_status()

    def delete(self, attempts: int = 3) -> None:
        """Drop the vhost (and the stream in it) if the stack made it; retried, never raises."""
        import httpx  # noqa: PLC0415 - as above

        if not self.owned:
            return
        url = f"{self.management_url.rstrip('/')}/api/vhosts/{quote(self.name, safe='')}"
        for attempt in range(attempts):
            try:
                with httpx.Client(auth=_auth(self.amqp_url), timeout=30) as http:
                    if http.delete(url).status_code in (204, 404):
                        return
            except httpx.HTTPError:
                pass
            if attempt + 1 < attempts:
                time.sleep(1 + attempt)
        _log.warning("could not delete RabbitMQ vhost %s; drop it by hand", self.name)


def _auth(amqp_url: str) -> tuple[str, str]:
    parts = urlsplit(amqp_url)
    return unquote(parts.username or "guest"), unquote(parts.password or "guest")
