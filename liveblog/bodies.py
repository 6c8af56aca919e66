"""Request bodies, read with a bound: 413 as soon as one is declared or read to be too large.

Starlette's `request.body()` and `request.form()` read whatever arrives; the API's JSON and the
desk's forms come through here first, so no body over its limit is buffered or parsed.
"""

from __future__ import annotations

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.types import Message

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


async def read_form(request: Request, limit: int, *, max_files: int = 0, max_fields: int = 50) -> FormData:
    """The request's form (urlencoded or multipart), parsed from a body read with `read_body`'s
    bound: Starlette's parser then never sees more than `limit` bytes (files spool to disk past
    1 MiB). A malformed multipart body is 400 (Starlette's HTTPException)."""
    body = await read_body(request, limit, "form")

    async def replay() -> Message:
        return {"type": "http.request", "body": body, "more_body": False}

    return await Request(request.scope, replay).form(max_files=max_files, max_fields=max_fields)
