"""A RabbitMQ virtual host of one stack's own, made and dropped through the management API.

The system's exchange and event-log stream have fixed names (``qahub_contracts.topology``),
so two stacks on one broker are kept apart by giving each its own vhost: the API and the
relay of a stack only ever see that vhost's stream. The management API is found at
``RABBITMQ_MANAGEMENT_URL``, else port 15672 of the broker's host, with the AMQP URL's
user and password. Where it does not answer, the stack runs on the URL's vhost as given
and says so in a warning log line: it is then isolated only if that vhost is its own.

Each vhost is named afresh (``qahub-stack-<random>``) and says in its description
which host, PID namespace and process (pid and start time) made it, and when. A run
that was killed before it could drop its vhost leaves it behind; the next stack made
on that host drops such leftovers when they are surely dead: made in this host's PID
namespace by a process that no longer runs (or whose pid a later process took), more
than a start's time ago, and with no connection open in them.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import socket
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote, unquote, urlsplit, urlunsplit

if TYPE_CHECKING:
    import httpx

__all__ = ["VirtualHost"]

_log = logging.getLogger("qahub_notify.testing")
_PERMISSIONS = {"configure": ".*", "write": ".*", "read": ".*"}
_PREFIX = "qahub-stack-"
_OWNER = re.compile(
    r"^qahub-notify testing stack host=(\S+) ns=(\S+) pid=(\d+) start=(\S+) created=(\d+)$"
)
STALE_AFTER_SECONDS = 300  # well over a stack's start (90 s): a younger one may be starting


def _description(
    pid: int | None = None,
    *,
    created: float | None = None,
    host: str | None = None,
    namespace: str | None = None,
    start: str | None = None,
) -> str:
    """Who made a vhost: host name, PID namespace, pid and that process's start time (two
    containers may share a host name, and a pid may be reused), and when."""
    pid = os.getpid() if pid is None else pid
    made = int(time.time() if created is None else created)
    return (
        f"qahub-notify testing stack host={host or socket.gethostname()} "
        f"ns={namespace or _pid_namespace()} pid={pid} start={start or _started(pid)} "
        f"created={made}"
    )


def _pid_namespace() -> str:
    """This process's PID namespace (Linux), else ``-``."""
    try:
        return str(Path("/proc/self/ns/pid").readlink()).removeprefix("pid:").strip("[]")
    except OSError:
        return "-"


def _started(pid: int) -> str:
    """When ``pid`` started, in clock ticks since boot (Linux), else ``-``."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19]
    except (OSError, IndexError):
        return "-"


def _is_running(pid: int) -> bool:
    """Whether ``pid`` runs here (a zombie does not; a process of another user does)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    with contextlib.suppress(OSError):  # Linux: a zombie waits only for its reaper
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    return True


def _abandoned(description: str, now: float) -> bool:
    """Whether a vhost with ``description`` was made on this host, in this PID namespace,
    by a process now gone (its pid unused, or used by a process started later)."""
    owner = _OWNER.match(description or "")
    if owner is None or (owner[1], owner[2]) != (socket.gethostname(), _pid_namespace()):
        return False
    pid, started, created = owner[3], owner[4], owner[5]
    if now - int(created) <= STALE_AFTER_SECONDS:
        return False
    if not _is_running(int(pid)):
        return True
    return started != "-" and _started(int(pid)) not in {"-", started}


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
        name = f"{_PREFIX}{uuid.uuid4().hex[:12]}"
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
        with contextlib.suppress(httpx.HTTPError, ValueError):  # a courtesy: never in the way
            vhost._drop_abandoned()
        return vhost

    def _put(self, user: str) -> None:
        import httpx  # noqa: PLC0415 - as above

        api, name = f"{self.management_url.rstrip('/')}/api", quote(self.name, safe="")
        with httpx.Client(auth=_auth(self.amqp_url), timeout=10) as http:
            http.put(
                f"{api}/vhosts/{name}", json={"description": _description()}
            ).raise_for_status()
            permissions = f"{api}/permissions/{name}/{quote(user, safe='')}"
            http.put(permissions, json=_PERMISSIONS).raise_for_status()

    def _drop_abandoned(self) -> None:
        """Drop the vhosts of killed runs of this host (see the module's docstring)."""
        import httpx  # noqa: PLC0415 - as above

        api = f"{self.management_url.rstrip('/')}/api"
        with httpx.Client(auth=_auth(self.amqp_url), timeout=10) as http:
            listed = http.get(f"{api}/vhosts", params={"columns": "name,description"})
            now = time.time()
            for vhost in listed.json() if listed.status_code == 200 else []:
                name = str(vhost.get("name", ""))
                if name.startswith(_PREFIX) and _abandoned(str(vhost.get("description")), now):
                    _drop_if_idle(http, api, name)

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


def _drop_if_idle(http: httpx.Client, api: str, name: str) -> None:
    """Drop vhost ``name`` unless a connection is open in it (someone still uses it)."""
    vhost = quote(name, safe="")
    connections = http.get(f"{api}/vhosts/{vhost}/connections")
    if connections.status_code == 200 and connections.json() == []:
        http.delete(f"{api}/vhosts/{vhost}")
        _log.info("dropped RabbitMQ vhost %s, left behind by a killed test run", name)
