"""Settings: one table, read once from the environment, overridable by CLI flags.

The table below is the single source for the server, the CLI and the README's
configuration section.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit


@dataclass(frozen=True)
class Setting:
    name: str
    default: Any
    help: str
    parse: Callable[[str], Any] = str
    secret: bool = False  # never shown: the startup log masks it

    @property
    def env(self) -> str:
        return "LIVEBLOG_" + self.name.upper()


def _bool(value: str) -> bool:
    lowered = value.strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"not a boolean: {value!r}")


def _sources(value: str) -> str:
    if any(c in value for c in ";,\r\n\0"):
        raise ValueError("a space-separated list of CSP sources, without ';' or ','")
    return value.strip()


def _origin(value: str) -> str:
    parsed = urlsplit(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc or parsed.path.strip("/") or parsed.query:
        raise ValueError(f"an origin such as https://live.example.com, not {value!r}")
    return f"{parsed.scheme}://{parsed.netloc}"


def _absolute_url(value: str) -> str:
    parsed = urlsplit(value.strip())
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise ValueError(f"an http or https URL such as https://news.example.com/, not {value!r}")
    return value.strip()


def _image_url(value: str) -> str:
    value = value.strip()
    if value.startswith("/") and not value.startswith("//"):
        return value
    if urlsplit(value).scheme != "https" or not urlsplit(value).netloc:
        raise ValueError(f"an https URL or a path on this site such as /static/img/logo.png, not {value!r}")
    return value


def _text(value: str) -> str:
    if not value.strip() or any(ord(c) < 32 for c in value):
        raise ValueError("a name: not empty, no control characters")
    return value.strip()


def _choice(*choices: str) -> Callable[[str], str]:
    def parse(value: str) -> str:
        lowered = value.strip().lower()
        if lowered not in choices:
            raise ValueError(f"one of {', '.join(choices)}, not {value!r}")
        return lowered

    return parse


def _count(value: str) -> int:
    number = int(value)
    if number < 0:
        raise ValueError(f"must be >= 0, got {number}")
    return number


def _positive_float(value: str) -> float:
    number = float(value)
    if not number > 0:
        raise ValueError(f"must be > 0, got {number}")
    return number


def _positive_int(value: str) -> int:
    number = int(value)
    if number < 1:
        raise ValueError(f"must be >= 1, got {number}")
    return number


SETTINGS: tuple[Setting, ...] = (
    Setting("host", "127.0.0.1", "address `liveblog serve` listens on"),
    Setting("port", 8000, "port `liveblog serve` listens on", int),
    Setting(
        "redis_url",
        None,
        "unset: start the embedded Redis under the data dir; "
        "set: use that Redis (`redis://`, `rediss://`, `unix://`)",
    ),
    Setting(
        "redis_cluster",
        False,
        "`LIVEBLOG_REDIS_URL` names one node of a Redis Cluster: every part uses redis-py's cluster client, which learns the others from it",
        _bool,
    ),
    Setting(
        "redis_wait_replicas",
        0,
        "a write is answered only once `WAIT` confirms this many replicas have it; fewer in time is "
        "503 with `Retry-After` (retry with the same `Idempotency-Key`); 0: answered once the master has it",
        _count,
    ),
    Setting(
        "redis_wait_timeout",
        1000,
        "milliseconds a write waits for `LIVEBLOG_REDIS_WAIT_REPLICAS` replicas before its 503",
        _positive_int,
    ),
    Setting("data_dir", "./var", "embedded Redis files and the generated secret key"),
    Setting(
        "secret_key",
        None,
        "signs session cookies and CSRF tokens (generated once into the data dir)",
        secret=True,
    ),
    Setting("workers", 1, "server processes; each has its own fan-out hub", _positive_int),
    Setting("queue_size", 256, "events queued per reader before a slow one is dropped", _positive_int),
    Setting("ring_size", 1024, "recent events each hub keeps in memory for resumes", _positive_int),
    Setting("stream_maxlen", 100_000, "events kept per blog stream (older ones are trimmed)", _positive_int),
    Setting("rate_limit", 120, "publishes, edits and deletes per token per minute", _positive_int),
    Setting("send_timeout", 30, "seconds a send to a frozen reader may block before it is dropped", int),
    Setting(
        "ping_interval",
        14.0,
        "longest silence before a reader gets a keep-alive ping, in seconds (SSE comment, WebSocket ping; at most 15)",
        float,
    ),
    Setting(
        "streams_per_ip",
        500,
        "concurrent SSE and WebSocket streams one client address may hold, enough for a newsroom behind one NAT (0: no limit)",
        int,
    ),
    Setting(
        "replay_bytes_per_ip",
        32 * 1024 * 1024,
        "bytes of replay read for one client address's streams and not yet sent; more streams get 429 until they catch up",
        _positive_int,
    ),
    Setting(
        "replay_max_events",
        10_000,
        "a reader further behind than this many events gets `reset` instead of a replay",
        _positive_int,
    ),
    Setting(
        "replay_max_bytes",
        64 * 1024 * 1024,
        "a reader further behind than this many bytes of events gets `reset` instead of a replay",
        _positive_int,
    ),
    Setting(
        "ring_bytes",
        8 * 1024 * 1024,
        "bytes of recent events each hub keeps in memory for resumes (with `ring_size`)",
        _positive_int,
    ),
    Setting(
        "public_url",
        None,
        "the one origin of absolute URLs (canonical, Open Graph, JSON-LD, feeds, `Location`), "
        "for example `https://live.example.com`; unset: the request's Host, with `Vary: Host`",
        _origin,
    ),
    Setting(
        "publisher_name",
        "liveblog",
        "the publisher of the blogs in their JSON-LD (`publisher.name`) and `og:site_name`",
        _text,
    ),
    Setting(
        "publisher_url",
        None,
        "the publisher's home page in the JSON-LD (`publisher.url`); unset: this site's `/`",
        _absolute_url,
    ),
    Setting(
        "publisher_logo",
        "/static/img/logo.png",
        "the publisher's logo in the JSON-LD (`publisher.logo`): an https URL, or a path on this site",
        _image_url,
    ),
    Setting(
        "forwarded_allow_ips",
        None,
        "proxies (comma-separated addresses, or `*`) whose `X-Forwarded-For` and `X-Forwarded-Proto` "
        "are believed; unset: trust no proxy",
    ),
    Setting(
        "secure_cookies",
        False,
        "cookies carry the `Secure` flag (always when `LIVEBLOG_PUBLIC_URL` is https)",
        _bool,
    ),
    Setting(
        "max_header_bytes",
        65_536,
        "largest request head (request line and headers); larger gets 431",
        _positive_int,
    ),
    Setting(
        "head_timeout",
        10.0,
        "seconds a connection has to send a complete request head before it is closed",
        float,
    ),
    Setting(
        "max_connections",
        0,
        "open connections per server process; more are refused (0: the open-file limit less a reserve)",
        int,
    ),
    Setting(
        "login_concurrency",
        2,
        "password checks running at once per process; more logins get 429 with `Retry-After`",
        _positive_int,
    ),
    Setting(
        "metrics_token",
        None,
        "bearer token `/metrics` answers to (unset: loopback clients only)",
        secret=True,
    ),
    Setting(
        "in_process_workers",
        True,
        "`liveblog serve` also runs the background workers (scheduler, webhooks, feeds); `0` where a `liveblog worker` process runs them",
        _bool,
    ),
    Setting(
        "allow_private_urls",
        False,
        "let webhooks and feeds reach loopback, link-local and private addresses",
        _bool,
    ),
    Setting(
        "webhook_retry_base",
        30.0,
        "seconds before a failed webhook delivery's first retry (then doubling, with jitter, for up to 24 hours)",
        float,
    ),
    Setting(
        "log_level",
        "info",
        "`debug`, `info`, `warning` or `error`",
        _choice("debug", "info", "warning", "error"),
    ),
    Setting(
        "log_format",
        "text",
        "`text` (a timestamped line per record) or `json` (one object per line)",
        _choice("text", "json"),
    ),
    Setting("access_log", False, "log every HTTP request (one line each)", _bool),
    Setting(
        "audience_interval",
        5.0,
        "seconds between two reports of a process's readers to Redis, for the desk's \"reading now\" "
        "(a process that stops reporting leaves the count after three)",
        _positive_float,
    ),
    Setting(
        "max_upload_bytes",
        10 * 1024 * 1024,
        "bytes of the largest image upload (API and desk); a larger one gets 413, read no further",
        _positive_int,
    ),
    Setting(
        "frame_ancestors",
        "*",
        "sources allowed to frame `/blogs/{slug}/embed` (CSP frame-ancestors)",
        _sources,
    ),
)

_BY_NAME = {s.name: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    host: str = "127.0.0.1"
    port: int = 8000
    redis_url: str | None = None
    redis_cluster: bool = False
    redis_wait_replicas: int = 0
    redis_wait_timeout: int = 1000
    data_dir: str = "./var"
    secret_key: str | None = None
    workers: int = 1
    queue_size: int = 256
    ring_size: int = 1024
    stream_maxlen: int = 100_000
    rate_limit: int = 120
    send_timeout: int = 30
    ping_interval: float = 14.0
    streams_per_ip: int = 500
    replay_bytes_per_ip: int = 32 * 1024 * 1024
    replay_max_events: int = 10_000
    replay_max_bytes: int = 64 * 1024 * 1024
    ring_bytes: int = 8 * 1024 * 1024
    public_url: str | None = None
    publisher_name: str = "liveblog"
    publisher_url: str | None = None
    publisher_logo: str = "/static/img/logo.png"
    forwarded_allow_ips: str | None = None
    secure_cookies: bool = False
    max_header_bytes: int = 65_536
    head_timeout: float = 10.0
    max_connections: int = 0
    login_concurrency: int = 2
    metrics_token: str | None = None
    in_process_workers: bool = True
    allow_private_urls: bool = False
    webhook_retry_base: float = 30.0
    log_level: str = "info"
    log_format: str = "text"
    access_log: bool = False
    audience_interval: float = 5.0
    max_upload_bytes: int = 10 * 1024 * 1024
    frame_ancestors: str = "*"

    def __post_init__(self) -> None:
        if self.redis_cluster and not self.redis_url:
            raise ValueError("LIVEBLOG_REDIS_CLUSTER: set LIVEBLOG_REDIS_URL to a node of the cluster")

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
        """Read every setting from the environment; non-None overrides (CLI flags) win."""
        environ = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        for setting in SETTINGS:
            raw = environ.get(setting.env)
            if raw is not None and raw != "":
                try:
                    values[setting.name] = setting.parse(raw)
                except ValueError as exc:
                    raise ValueError(f"{setting.env}: {exc}") from None
        for name, value in overrides.items():
            if name not in _BY_NAME:
                raise TypeError(f"unknown setting {name!r}")
            if value is not None:
                values[name] = value
        return cls(**values)

    def with_(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    def to_env(self) -> dict[str, str]:
        """The environment that reproduces these settings in a child process."""
        env = {}
        for f in fields(self):
            value = getattr(self, f.name)
            if value is not None:
                env[_BY_NAME[f.name].env] = str(int(value) if isinstance(value, bool) else value)
        return env

    @property
    def data_path(self) -> Path:
        return Path(self.data_dir).resolve()

    def resolved_secret_key(self) -> str:
        """The configured secret key, or the one generated once into the data dir."""
        if self.secret_key:
            return self.secret_key
        path = self.data_path / "secret_key"
        path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            return path.read_text().strip()
        with os.fdopen(fd, "w") as fh:
            key = secrets.token_urlsafe(48)
            fh.write(key + "\n")
        return key


def markdown_table() -> str:
    """The configuration table as Markdown (kept in the README; a test compares them)."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for s in SETTINGS:
        default = "unset" if s.default is None else f"`{s.default}`"
        rows.append(f"| `{s.env}` | {default} | {s.help} |")
    return "\n".join(rows)
