"""Nginx under test: Nchan (SSE/WebSocket subscriber + HTTP publisher) and a static page, in a temp dir.

Nothing is installed here: `missing()` says what is absent and how to install it,
and the caller skips that comparison.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from . import proc
from .servers import ChildServer, wait_http, wrap

INSTALL = "apt-get install -y nginx libnginx-mod-nchan wrk"
MODULE_PATHS = (
    Path("/usr/lib/nginx/modules/ngx_nchan_module.so"),
    Path("/usr/share/nginx/modules/ngx_nchan_module.so"),
)


def nginx_binary() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if os.access(p, os.X_OK)), None
    )


def nchan_module() -> Path | None:
    return next((p for p in MODULE_PATHS if p.exists()), None)


def missing() -> list[str]:
    """Debian packages the comparison needs that this machine lacks."""
    lacking = []
    if nginx_binary() is None:
        lacking.append("nginx")
    if nchan_module() is None:
        lacking.append("libnginx-mod-nchan")
    if shutil.which("wrk") is None:
        lacking.append("wrk")
    return lacking


CONFIG = """\
{load}
{user}
worker_processes 1;
worker_rlimit_nofile {nofile};
pid {root}/nginx.pid;
error_log {root}/error.log warn;
events {{
    worker_connections {connections};
    multi_accept on;
}}
http {{
    access_log off;
    client_body_temp_path {root}/tmp/body;
    proxy_temp_path {root}/tmp/proxy;
    fastcgi_temp_path {root}/tmp/fastcgi;
    uwsgi_temp_path {root}/tmp/uwsgi;
    scgi_temp_path {root}/tmp/scgi;
    {nchan_http}
    server {{
        listen 127.0.0.1:{port} backlog=4096;
        location = /page {{
            default_type text/html;
            alias {root}/page.html;
        }}
        {nchan_locations}
    }}
}}
"""

NCHAN_HTTP = "nchan_max_reserved_memory 256M;"
NCHAN_LOCATIONS = """
        location ~ ^/sub/(\\w+)$ {
            nchan_subscriber eventsource websocket;
            nchan_channel_id $1;
        }
        location ~ ^/pub/(\\w+)$ {
            nchan_publisher http;
            nchan_channel_id $1;
            nchan_message_buffer_length 1000;
            nchan_message_timeout 1h;
        }
"""


class Nginx(ChildServer):
    """One nginx master and one worker, not daemonized, a child of this process."""

    name = "nchan"
    ok = (201, 202)
    stop_signal = signal.SIGTERM  # fast shutdown

    def __init__(self, cpus: str | None = "0", nchan: bool = True, page: bytes = b"") -> None:
        super().__init__(cpus, "lbbench-nginx-")
        self.nchan, self.page = nchan, page

    def config(self) -> str:
        module = nchan_module()
        return CONFIG.format(
            load=f"load_module {module};" if self.nchan and module else "",
            user="user root;" if os.geteuid() == 0 else "",
            nofile=proc.nofile_hard(),
            connections=2 * proc.nofile_hard(),  # Nchan takes internal connections beside the sockets
            root=self.root,
            port=self.port,
            nchan_http=NCHAN_HTTP if self.nchan else "",
            nchan_locations=NCHAN_LOCATIONS if self.nchan else "",
        )

    def start(self) -> Nginx:
        binary = nginx_binary()
        if binary is None:
            raise RuntimeError(f"nginx is not installed: {INSTALL}")
        (self.root / "tmp").mkdir()
        (self.root / "page.html").write_bytes(self.page)
        conf = self.root / "nginx.conf"
        conf.write_text(self.config())
        log = self.root / "stderr.log"
        command = [binary, "-p", str(self.root), "-c", str(conf), "-e", str(self.root / "error.log")]
        command += ["-g", "daemon off; master_process on;"]
        with open(log, "ab") as out:
            self.process = subprocess.Popen(wrap(command, self.cpus), stdout=out, stderr=subprocess.STDOUT)
        wait_http(f"http://{self.host}:{self.port}/page", self.process, log)
        return self

    def path(self, kind: str, channel: str) -> str:
        return f"/sub/{channel}"

    def page_path(self, channel: str) -> str:
        return "/page"
