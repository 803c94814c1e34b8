"""The peer: nginx + Nchan, one process on loopback, started and ended by this bench only.

Nchan is what our relay is compared with (bench/README.md): the same streams and
POSTs against a mature SSE fan-out server, on the same machine, in the same run.
"""

from __future__ import annotations

import os
import shutil
import tempfile
import uuid
from pathlib import Path
from typing import Self

from common import NOFILE, RESULTS, Child, free_port, wait_ready

NCHAN_MODULE = Path("/usr/lib/nginx/modules/ngx_nchan_module.so")

NCHAN_CONF = """\
load_module {module};
worker_processes 1;
master_process off;
daemon off;
worker_rlimit_nofile {nofile};
pid {tmp}/nginx.pid;
error_log {tmp}/error.log warn;
events {{ worker_connections {nofile}; multi_accept on; }}
http {{
  access_log off;
  client_body_temp_path {tmp}/body;
  proxy_temp_path {tmp}/proxy;
  fastcgi_temp_path {tmp}/fastcgi;
  uwsgi_temp_path {tmp}/uwsgi;
  scgi_temp_path {tmp}/scgi;
  nchan_shared_memory_size 512M;
  server {{
    listen 127.0.0.1:{port} backlog=4096;
    location ~ ^/pub/(\\w+)$ {{
      nchan_publisher;
      nchan_channel_id $1;
      nchan_message_buffer_length {buffer};
      nchan_message_timeout 1h;
    }}
    location ~ ^/sub/(\\w+)$ {{
      nchan_subscriber eventsource;
      nchan_channel_id $1;
      nchan_eventsource_event notification;
      nchan_eventsource_ping_interval {heartbeat};
      nchan_subscriber_first_message newest;
    }}
    location = /healthz {{ return 200 ok; }}
  }}
}}
"""


class Nchan:
    """nginx + Nchan, one process (``master_process off``: it is the one worker), loopback."""

    def __init__(self, *, heartbeat: int = 30, buffer: int = 2000) -> None:
        self.port = free_port()
        self.tmp = Path(tempfile.mkdtemp(prefix="qahub-bench-nchan-"))
        self.heartbeat = heartbeat
        self.buffer = buffer
        self.child: Child | None = None

    async def __aenter__(self) -> Self:
        if shutil.which("nginx") is None or not NCHAN_MODULE.exists():  # noqa: ASYNC240
            raise RuntimeError("nginx + Nchan not installed: run bench/setup.sh")
        conf = self.tmp / "nginx.conf"
        conf.write_text(
            NCHAN_CONF.format(
                module=NCHAN_MODULE,
                nofile=NOFILE // 2,
                tmp=self.tmp,
                port=self.port,
                buffer=self.buffer,
                heartbeat=self.heartbeat,
            )
        )
        RESULTS.joinpath("logs").mkdir(parents=True, exist_ok=True)
        log = RESULTS / "logs" / f"nchan-{uuid.uuid4().hex[:6]}.log"
        argv = ["nginx", "-p", str(self.tmp), "-c", str(conf), "-e", str(self.tmp / "error.log")]
        self.child = Child("nchan", argv, dict(os.environ), log)
        await wait_ready(f"http://127.0.0.1:{self.port}/healthz", self.child, timeout=20)
        return self

    async def __aexit__(self, *exc: object) -> None:
        if self.child is not None:
            self.child.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)
