"""Request bodies, read with a bound: 413 as soon as one is declared or read to be too large.

Starlette's `request.body()` and `request.form()` read whatever arrives; the API's JSON and the
desk's forms come through here first, so no body over its limit is buffered or parsed.
"""

from __future__ import annotations

from starlette.requests import Request

from .errors import PayloadTooLarge


async def read_body(request: Request, limit: int, what: str = "request body") -> bytes:
    """The request's body, or 413 once its Content-Length or the bytes read pass `limit`."""
    declared = request.headers.get("content-length", "")
    if declared.isascii() and declared.isdigit() and int(declared) > limit:
        raise PayloadTooLarge(f"{what} over {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise PayloadTooLarge(f"{what} over {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)
