"""Logging for `liveblog serve`: one configuration for the parent and every uvicorn worker.

`config()` is a `logging.config.dictConfig` dict. The parent applies it before anything
logs, and hands it to uvicorn as `log_config`, which applies it again in each worker
process it spawns: liveblog's loggers (`liveblog`, `liveblog.hub`, ...) and uvicorn's
(`uvicorn.error`, `uvicorn.access`) all write to stderr through one handler, as
`text` (a line per record: time, level, logger, message) or `json` (one object per line,
serialized by python-json-logger). Other libraries' records pass through the same
handler from WARNING up.
"""

from __future__ import annotations

import logging
import logging.config
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from pythonjsonlogger.core import RESERVED_ATTRS
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

from .settings import SETTINGS, Settings

MASK = "****"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
log = logging.getLogger("liveblog.cli")


def _iso_time(record: logging.LogRecord) -> str:
    """RFC 3339 UTC with milliseconds, the same in both formats: 2026-04-24T10:00:00.123Z."""
    return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")[:-6] + "Z"


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_time(record)


class JsonFormatter(_LibraryJsonFormatter):
    """python-json-logger's formatter with our field names: time, level, logger, message,
    `exception` (the traceback) when there is one, and any `extra` fields of the record."""

    def __init__(self) -> None:
        super().__init__(
            ["asctime", "levelname", "name", "message"],
            rename_fields={
                "asctime": "time",
                "levelname": "level",
                "name": "logger",
                "exc_info": "exception",
            },
            # uvicorn adds an ANSI-coloured copy of some messages, for terminals.
            reserved_attrs=[*RESERVED_ATTRS, "color_message"],
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:  # noqa: N802
        return _iso_time(record)


class AccessFields(logging.Filter):
    """Gives uvicorn's access records their parts as fields (client, method, path, status),
    for the JSON lines; the text line is uvicorn's own message."""

    def filter(self, record: logging.LogRecord) -> bool:
        if isinstance(record.args, tuple) and len(record.args) == 5:
            client, method, path, http_version, status = record.args
            record.__dict__.update(client=client, method=method, path=path, status=status)
        return True


def config(settings: Settings) -> dict[str, Any]:
    """The dictConfig for `settings.log_level` and `settings.log_format`."""
    level = settings.log_level.upper()
    formatter = TextFormatter if settings.log_format == "text" else JsonFormatter
    ours = {"level": level, "handlers": [], "propagate": True}
    return {
        "version": 1,
        "disable_existing_loggers": False,  # modules create their loggers at import
        "formatters": {"liveblog": {"()": f"{__name__}.{formatter.__name__}"}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "formatter": "liveblog",
                "stream": "ext://sys.stderr",
            }
        },
        "filters": {"access": {"()": f"{__name__}.{AccessFields.__name__}"}},
        "loggers": {
            "liveblog": dict(ours),
            "uvicorn": dict(ours),
            "uvicorn.error": dict(ours),
            "uvicorn.access": {**ours, "filters": ["access"]},
        },
        "root": {"level": max(logging.getLevelName(level), logging.WARNING), "handlers": ["stderr"]},
    }


def configure(settings: Settings) -> dict[str, Any]:
    """Apply `config(settings)` in this process; returns it, for uvicorn's `log_config`."""
    conf = config(settings)
    logging.config.dictConfig(conf)
    return conf


def mask_url(url: str) -> str:
    """`url` with its password, in the userinfo or a `password=` query parameter, masked."""
    parts = original = urlsplit(url)
    userinfo, at, hostport = parts.netloc.rpartition("@")
    if at and ":" in userinfo:
        parts = parts._replace(netloc=f"{userinfo.partition(':')[0]}:{MASK}@{hostport}")
    query = parse_qsl(parts.query, keep_blank_values=True)
    if any(name == "password" for name, _ in query):
        masked = [(name, MASK if name == "password" else value) for name, value in query]
        parts = parts._replace(query=urlencode(masked, safe="*"))
    # Rebuilt only when masked: urlunsplit turns unix:///path into unix:/path.
    return url if parts == original else urlunsplit(parts)


def changed_settings(settings: Settings) -> dict[str, Any]:
    """The settings that differ from their defaults, secrets masked, passwords in URLs masked."""
    changed = {}
    for setting in SETTINGS:
        value = getattr(settings, setting.name)
        if value == setting.default:
            continue
        if setting.secret:
            value = MASK
        elif isinstance(value, str) and "://" in value:
            value = mask_url(value)
        changed[setting.name] = value
    return changed


def startup(settings: Settings, *, version: str, redis_url: str) -> None:
    """The INFO record `serve` starts with: version, address, Redis in use, changed settings."""
    address = f"http://{settings.host}:{settings.port}/"
    embedded = settings.redis_url is None
    redis = mask_url(redis_url)
    changed = changed_settings(settings)
    shown = ", ".join(f"{name}={value}" for name, value in changed.items()) or "none"
    log.info(
        "liveblog %s on %s; Redis %s%s; settings changed from the defaults: %s",
        version,
        address,
        redis,
        " (embedded)" if embedded else "",
        shown,
        extra={
            "version": version,
            "address": address,
            "redis": redis,
            "embedded_redis": embedded,
            "settings": changed,
        },
    )
