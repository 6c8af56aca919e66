"""The wire format: stream IDs and events, encoded once for SSE and once for WebSocket.

Pure functions and plain data; no I/O.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Literal, get_args

# The event types, written once: the stream's (what webhooks can be sent), and `reset`, which only the
# transports send (never stored). models.py and the OpenAPI document take them from here.
StoredEventType = Literal["update.published", "update.edited", "update.deleted", "blog.updated"]
EventType = Literal[StoredEventType, "reset"]
STORED_EVENT_TYPES: tuple[str, ...] = get_args(StoredEventType)
EVENT_TYPES: tuple[str, ...] = get_args(EventType)
_ID = re.compile(r"^([0-9]{1,20})(?:-([0-9]{1,20}))?$")
_SUBJECT = re.compile(r'^\{"id":"([0-9]+-[0-9]+)"')  # how the store writes an update's JSON

StreamKey = tuple[int, int]


class BadEventId(ValueError):
    """A Last-Event-ID that is not a stream ID."""


def parse_id(value: str) -> StreamKey:
    """`1650769560000-3` -> (1650769560000, 3); a bare `1650769560000` means sequence 0."""
    match = _ID.match(value.strip())
    if match is None:
        raise BadEventId(f"not a stream ID: {value[:64]!r}")
    ms, seq = int(match[1]), int(match[2] or 0)
    if ms >= 2**64 or seq >= 2**64:
        raise BadEventId(f"stream ID out of range: {value[:64]!r}")
    return ms, seq


def format_id(key: StreamKey) -> str:
    return f"{key[0]}-{key[1]}"


@dataclass(slots=True, eq=False)
class Event:
    """One event, encoded once: the same bytes go to every SSE reader, the same text to every WS.

    Shared by the hub's ring and every queue it was handed to, so erasing it (when its update is
    edited or deleted) takes its text out of all of them at once; its place in the stream stays.
    """

    id: str
    key: StreamKey
    type: str
    payload: str  # the JSON object the WebSocket sends and SSE carries in `data:`
    sse: bytes
    update_id: str | None = None  # the update an `update.*` event carries
    erased: bool = False

    @property
    def size(self) -> int:
        return len(self.payload) + len(self.sse)

    def erase(self) -> None:
        self.payload, self.sse, self.erased = "", b"", True


def encode(blog: str, event_id: str, event_type: str, data: str) -> Event:
    """Build an event from a stream entry; `data` is the entry's JSON text (update or meta)."""
    field = "meta" if event_type == "blog.updated" else "update"
    payload = f'{{"id":"{event_id}","type":"{event_type}","blog":{json.dumps(blog)},"{field}":{data}}}'
    subject = None if event_type == "blog.updated" else _subject(data)
    return Event(
        event_id, parse_id(event_id), event_type, payload, _sse(event_id, event_type, payload), subject
    )


def _subject(data: str) -> str | None:
    match = _SUBJECT.match(data)
    if match is not None:
        return match[1]
    try:
        subject = json.loads(data).get("id")
    except (ValueError, AttributeError):
        return None
    return subject if isinstance(subject, str) else None


def reset(blog: str, position: StreamKey) -> Event:
    """Sent instead of a replay the server cannot give; the client reloads the current state."""
    event_id = format_id(position)
    payload = json.dumps(
        {"id": event_id, "type": "reset", "blog": blog, "last_event_id": event_id},
        separators=(",", ":"),
    )
    return Event(event_id, position, "reset", payload, _sse(event_id, "reset", payload))


def _sse(event_id: str, event_type: str, payload: str) -> bytes:
    return f"id: {event_id}\nevent: {event_type}\ndata: {payload}\n\n".encode()


def sse_retry(milliseconds: int) -> bytes:
    return f"retry: {milliseconds}\n\n".encode()


# A keep-alive comment for SSE readers; WebSocket readers get protocol-level pings instead.
PING = Event("", (0, 0), "ping", "", b": ping\n\n")
