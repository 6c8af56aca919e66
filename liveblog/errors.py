"""Exceptions that carry their HTTP status; one handler renders them (problem+json or HTML)."""

from __future__ import annotations


class LiveblogError(Exception):
    status = 500
    title = "Internal Server Error"
    headers: dict[str, str] = {}

    def __init__(self, detail: str = "", *, headers: dict[str, str] | None = None) -> None:
        super().__init__(detail or self.title)
        self.detail = detail or self.title
        if headers:
            self.headers = headers

    @property
    def type(self) -> str:
        return "https://liveblog.dev/problems/" + self.title.lower().replace(" ", "-")


class BadRequest(LiveblogError):
    status, title = 400, "Bad Request"


class Unauthorized(LiveblogError):
    status, title = 401, "Unauthorized"
    headers = {"WWW-Authenticate": 'Bearer realm="liveblog"'}


class Forbidden(LiveblogError):
    status, title = 403, "Forbidden"


class NotFound(LiveblogError):
    status, title = 404, "Not Found"


class Conflict(LiveblogError):
    status, title = 409, "Conflict"


class BlogEnded(Conflict):
    """A publish (or a schedule) to a blog that has ended: the same 409 on every way in."""

    def __init__(self, slug: str) -> None:
        super().__init__(f"the blog {slug!r} has ended: reopen it to publish")


class DeskFull(Conflict):
    """A new draft for a blog whose desk holds `models.MAX_DRAFTS` already: the same 409 on
    every way in (the API, the desk's form, which shows the text again to be kept)."""

    def __init__(self, slug: str, most: int) -> None:
        super().__init__(
            f"the desk of blog {slug!r} holds {most} drafts, the most it keeps: publish or delete some first"
        )


class PayloadTooLarge(LiveblogError):
    status, title = 413, "Payload Too Large"


class UnsupportedMediaType(LiveblogError):
    status, title = 415, "Unsupported Media Type"


class Invalid(LiveblogError):
    status, title = 422, "Unprocessable Content"

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class TooManyRequests(LiveblogError):
    status, title = 429, "Too Many Requests"


class Unavailable(LiveblogError):
    status, title = 503, "Service Unavailable"
    headers = {"Retry-After": "2"}


class NotReplicated(Unavailable):
    """A write reached the master, but `WAIT` did not confirm enough replicas in time."""

    def __init__(self, replicas: int, wanted: int) -> None:
        super().__init__(
            f"the write reached {replicas} of {wanted} replicas in time, so it may or may not have "
            "happened; retry with the same Idempotency-Key"
        )
        self.replicas, self.wanted = replicas, wanted
