"""The query parameters that page through a blog's updates, read once for the API, the reader
page and the feeds: `before` / `after` (a stream ID: the updates older / newer than it), `order`
(`newest`, the default, or `oldest`) and `key_events` (`1`: key events only).

With both cursors, the updates between them. Bad values are 400 (a cursor that is no stream
ID) or 422 (`order`, `key_events`), never a 500; `Listing.query` writes them back for the next and previous pages.
"""

from __future__ import annotations

from typing import Any, NamedTuple
from urllib.parse import urlencode

from starlette.requests import Request

from .errors import BadRequest, Invalid
from .events import BadEventId, format_id, parse_id

ORDERS = ("newest", "oldest")
FLAGS = {"1": True, "true": True, "0": False, "false": False}


class Listing(NamedTuple):
    before: str | None = None
    after: str | None = None
    oldest: bool = False
    key_events: bool = False

    def query(self, *, before: str | None = None, after: str | None = None, **extra: str) -> str:
        """The query string (with its `?`, or "") of this listing at another position."""
        params = {**extra}
        if self.oldest:
            params["order"] = "oldest"
        if self.key_events:
            params["key_events"] = "1"
        if before is not None:
            params["before"] = before
        if after is not None:
            params["after"] = after
        return "?" + urlencode(params) if params else ""

    def window(self) -> dict[str, Any]:
        """`Store.list_updates`'s keywords for this listing: its cursors, order and filter."""
        return {
            "before": self.before,
            "after": self.after,
            "oldest": self.oldest,
            "key_events": self.key_events,
        }

    def next_query(self, next_before: str | None, next_after: str | None, **extra: str) -> str | None:
        """The next page in the order shown (older when newest first, newer when oldest first)."""
        if self.oldest:
            return None if next_after is None else self.query(after=next_after, **extra)
        return None if next_before is None else self.query(before=next_before, **extra)

    def prev_query(self, next_before: str | None, next_after: str | None, **extra: str) -> str | None:
        """The page before this one in the order shown."""
        if self.oldest:
            return None if next_before is None else self.query(before=next_before, **extra)
        return None if next_after is None else self.query(after=next_after, **extra)


def cursor_of(request: Request, name: str) -> str | None:
    """A cursor parameter as a stream ID (400 when it is not one)."""
    value = request.query_params.get(name)
    if value is None:
        return None
    try:
        return format_id(parse_id(value))
    except BadEventId as exc:
        raise BadRequest(f"{name}: {exc}") from None


def listing_of(request: Request) -> Listing:
    """The request's paging parameters, validated."""
    params = request.query_params
    before, after = cursor_of(request, "before"), cursor_of(request, "after")
    order = params.get("order", "newest")
    if order not in ORDERS:
        raise Invalid("order", "must be newest or oldest")
    key_events = params.get("key_events", "0")
    if key_events not in FLAGS:
        raise Invalid("key_events", "must be 1 or 0")
    return Listing(before, after, order == "oldest", FLAGS[key_events])
