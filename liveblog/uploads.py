"""Image uploads over HTTP: `POST /api/v1/blogs/{slug}/media` (a bot's token, or an editor's
session and CSRF token) and `GET /media/{slug}/{id}-{width}.webp`, which serves them (and users' avatars, as `media.AVATARS`).

The upload is read with a bound (`LIVEBLOG_MAX_UPLOAD_BYTES`, 413 past it, before any parsing),
then handed to `media.upload`, which sniffs, checks and re-encodes it. What is served is immutable:
its name holds the hash of the upload, so a year's `Cache-Control` lets browsers and CDNs keep it.
"""

from __future__ import annotations

import re

from starlette.datastructures import FormData, UploadFile
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from . import media
from .api import writer
from .bodies import read_form
from .errors import Invalid, NotFound, PayloadTooLarge, UnsupportedMediaType
from .models import SLUG_PATTERN
from .state import state_of
from .urls import location

FORM_OVERHEAD = 16 * 1024  # a multipart body's boundaries and part headers, beyond the file itself
IMMUTABLE = "public, max-age=31536000, immutable"
_SERVED = re.compile(rf"([0-9a-f]{{{media.ID_CHARS}}})-([1-9][0-9]{{0,4}})\.{media.EXTENSION}")
_SLUG = re.compile(SLUG_PATTERN)


def form_limit(request: Request, fields: int = 0) -> int:
    """The bytes a form carrying one upload may have: the upload's limit, its overhead and `fields`."""
    return state_of(request).settings.max_upload_bytes + FORM_OVERHEAD + fields


async def file_of(request: Request, form: FormData, name: str = "file") -> bytes | None:
    """The bytes of the form's file field `name`, None without one (b"" when a browser's form had no
    file chosen). 413 over `LIVEBLOG_MAX_UPLOAD_BYTES`, 422 when the field is text, not a file."""
    part = form.get(name)
    if part is None:
        return None
    if not isinstance(part, UploadFile):
        raise Invalid(name, "must be a file (multipart/form-data)")
    limit = state_of(request).settings.max_upload_bytes
    data = await part.read(limit + 1)
    if len(data) > limit:
        raise PayloadTooLarge(f"{name}: over {limit} bytes")
    return data


async def upload(request: Request) -> Response:
    slug = request.path_params["slug"]
    await writer(request, slug, drafts=True)  # a contributor's too: an upload publishes nothing
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type != "multipart/form-data":
        raise UnsupportedMediaType("send the image as multipart/form-data, in a field named file")
    form = await read_form(request, form_limit(request), max_files=1, max_fields=5)
    try:
        data = await file_of(request, form)
        unknown = next((name for name in form if name != "file"), None)
    finally:
        await form.close()
    if data is None:
        raise Invalid("file", "field required: the image, as a file")
    if unknown is not None:  # as a JSON body's unknown field is (the document says so too)
        raise Invalid(unknown, "unknown field")
    state = state_of(request)
    document = await media.upload(state.store, slug, data, state.uploads)
    headers = {"Location": location(request, document["url"]), "Cache-Control": "no-cache"}
    return JSONResponse(document, 201, headers=headers)


async def serve(request: Request) -> Response:
    slug, name = request.path_params["slug"], request.path_params["name"]
    found = _SERVED.fullmatch(name)
    data = None
    if found and (_SLUG.fullmatch(slug) or slug == media.AVATARS):
        data = await state_of(request).store.media_bytes(slug, found[1], int(found[2]))
    if data is None:
        raise NotFound(f"no image at {request.scope['path']}")
    headers = {"Cache-Control": IMMUTABLE, "X-Content-Type-Options": "nosniff"}
    return Response(data, media_type=media.CONTENT_TYPE, headers=headers)


def api_routes() -> list[BaseRoute]:
    """Beneath `/api/v1`."""
    return [Route("/blogs/{slug}/media", upload, methods=["POST"])]


def routes() -> list[BaseRoute]:
    return [Route("/media/{slug}/{name}", serve, methods=["GET"])]
