"""The OpenAPI 3.1 description of the HTTP API (served at `/openapi.json`).

The shapes (`components/schemas`) are generated from models.py, the classes that validate requests;
the paths, parameters and responses are written here and refer to them. `spec()` builds the document
once and caches it; treat the returned dict as read-only.
"""

from __future__ import annotations

import functools
from typing import Any

from pydantic import TypeAdapter
from pydantic.json_schema import GenerateJsonSchema

from .models import (
    MAX_BODY_BYTES,
    MAX_DRAFTS,
    MAX_HTML_BYTES,
    MAX_IDEMPOTENCY_KEY,
    MAX_REQUEST_BYTES,
    MAX_UPLOAD_FRAMES,
    MAX_UPLOAD_PIXELS,
    SCHEMAS,
    SLUG_PATTERN,
    STREAM_ID_INPUT_PATTERN,
)
from .problems import MEDIA_TYPE

JSON = "application/json"
PROBLEM = MEDIA_TYPE
SSE_EXAMPLE = (
    "id: 1650769560000-0\nevent: update.deleted\n"
    'data: {"id":"1650769560000-0","type":"update.deleted","blog":"russia-ukraine",'
    '"update":{"id":"1650769500000-0"}}\n\n'
)
_KIB = 1024

DESCRIPTION = f"""\
The JSON API of liveblog, a live-updates blog service.

**Reads** are public. **Writes** need `Authorization: Bearer TOKEN`: a bot token made with
`liveblog token create` (optionally limited to some blogs), or, from the editor pages, an editor's
session cookie plus its CSRF token. A missing or bad token is 401; a token not allowed on the blog
is 403.

**Writes** take `Content-Type: application/json` (else 415). Malformed JSON is 400; unknown fields
or wrong types are 422, naming the field; a Markdown body over {MAX_BODY_BYTES // _KIB} KiB or a request over
{MAX_REQUEST_BYTES // _KIB} KiB is 413. Over the rate limit the answer is 429, and 503 when the store is unreachable; both carry
`Retry-After`. Every error is an RFC 9457 `application/problem+json` document.

**Idempotency-Key.** Send a unique `Idempotency-Key` header with `POST .../updates` (or
`POST .../drafts`) to retry safely: the same key with the same body within 24 hours returns the
first response and publishes (or saves) nothing new; the same key with a different body is 409.

**Live events and resume.** Every change to a blog is one event with a stream ID
(`1650769560000-0`) that strictly increases per blog. `GET .../events` (Server-Sent Events) and
`GET .../ws` (WebSocket) carry the same events (see the `Event` schema). To resume, give the last
ID you have as the `Last-Event-ID` header (EventSource does this by itself on reconnect) or as
`?last_event_id=ID`: the server sends every later event in order, exactly once, then the live
ones. The `last_event_id` of `GET /api/v1/blogs/{{slug}}` and of `GET .../updates` is the position
to resume from after loading that state. Without a position only live events are sent. When the
position is no longer retained, a `reset` event tells the client to reload from `GET .../updates`.
"""

# status -> (component name, description)
ERRORS: dict[int, tuple[str, str]] = {
    400: ("BadRequest", "Malformed JSON or a malformed parameter."),
    401: ("Unauthorized", "No bearer token, or one that is not valid."),
    403: ("Forbidden", "The token is not allowed to do this on this blog."),
    404: ("NotFound", "No such blog or update."),
    409: ("Conflict", "The request conflicts with the current state."),
    413: (
        "PayloadTooLarge",
        f"Markdown body over {MAX_BODY_BYTES // _KIB} KiB (or one that renders to over "
        f"{MAX_HTML_BYTES // _KIB} KiB of HTML), or request over {MAX_REQUEST_BYTES // _KIB} KiB.",
    ),
    415: ("UnsupportedMediaType", "The request body is not `application/json`."),
    422: ("UnprocessableContent", "A field is missing, unknown or of the wrong type; `detail` names it."),
    429: ("TooManyRequests", "Over the rate limit; retry after `Retry-After` seconds."),
    503: ("ServiceUnavailable", "The store is unreachable; retry after `Retry-After` seconds."),
}


REF = "#/components/schemas/{model}"


def _ref(kind: str, name: str, **overrides: str) -> dict[str, Any]:
    return {"$ref": f"#/components/{kind}/{name}", **overrides}


def _schema(name: str) -> dict[str, Any]:
    return _ref("schemas", name)


def _json(schema: dict[str, Any]) -> dict[str, Any]:
    return {JSON: {"schema": schema}}


def _created(description: str, schema: str, location: str) -> dict[str, Any]:
    """A 201 answer: the `schema` document, and where it now lives in a `Location` header."""
    return {
        "description": description,
        "headers": {
            "Location": {"description": location, "schema": {"type": "string", "format": "uri-reference"}}
        },
        "content": _json(_schema(schema)),
    }


def _errors(*statuses: int, **descriptions: str) -> dict[str, Any]:
    """Responses that refer to the shared error components; `e409="..."` overrides a description."""
    out: dict[str, Any] = {}
    for status in statuses:
        name = ERRORS[status][0]
        description = descriptions.get(f"e{status}")
        ref = _ref("responses", name, description=description) if description else _ref("responses", name)
        out[str(status)] = ref
    return out


def _body(name: str) -> dict[str, Any]:
    return {"required": True, "content": _json(_schema(name))}


def _write(
    operation_id: str, summary: str, body: str | None, ok: dict[str, dict[str, Any]], errors: dict[str, Any]
) -> dict[str, Any]:
    op: dict[str, Any] = {
        "operationId": operation_id,
        "summary": summary,
        "security": [{"bearer": []}],
        "responses": {**ok, **errors},
    }
    if body is not None:
        op["requestBody"] = _body(body)
    return op


class _Components(GenerateJsonSchema):
    """Pydantic's JSON Schema without a generated `title` on every property (the names say it)."""

    def field_title_should_be_set(self, schema: Any) -> bool:
        return False


def _schemas() -> dict[str, Any]:
    """`components/schemas`, generated from the shapes in models.py; nested shapes become `$ref`s."""
    out: dict[str, Any] = {}
    for name, shape in SCHEMAS.items():
        schema = TypeAdapter(shape).json_schema(ref_template=REF, schema_generator=_Components)
        for nested, definition in {**schema.pop("$defs", {}), name: schema}.items():
            if out.setdefault(nested, definition) != definition:
                raise ValueError(f"two shapes are named {nested!r} in models.SCHEMAS")
    return out


def _responses() -> dict[str, Any]:
    out: dict[str, Any] = {}
    for status, (name, description) in ERRORS.items():
        response: dict[str, Any] = {
            "description": description,
            "content": {PROBLEM: {"schema": _schema("Problem")}},
        }
        if status in (429, 503):
            response["headers"] = {"Retry-After": _ref("headers", "RetryAfter")}
        if status == 401:
            response["headers"] = {"WWW-Authenticate": {"schema": {"type": "string"}}}
        out[name] = response
    return out


def _parameters() -> dict[str, Any]:
    last_event_id = "Resume after this event: every later event is sent, in order, once, then the live ones."
    return {
        "Slug": {
            "name": "slug",
            "in": "path",
            "required": True,
            "schema": {"type": "string", "pattern": SLUG_PATTERN},
        },
        "WebhookId": {"name": "webhook_id", "in": "path", "required": True, "schema": {"type": "string"}},
        "UpdateId": {"name": "id", "in": "path", "required": True, "schema": _schema("StreamId")},
        "ScheduledId": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        "DraftId": {"name": "id", "in": "path", "required": True, "schema": {"type": "string"}},
        "Limit": {
            "name": "limit",
            "in": "query",
            "description": "Page size.",
            "schema": {"type": "integer", "minimum": 1, "maximum": 100, "default": 20},
        },
        "Before": {
            "name": "before",
            "in": "query",
            "description": "Only updates older than this one "
            "(a stream ID; take `next_before` of the previous page).",
            "schema": {"type": "string", "pattern": STREAM_ID_INPUT_PATTERN},
        },
        "After": {
            "name": "after",
            "in": "query",
            "description": "Only updates newer than this one (a stream ID; take `next_after` of "
            "the previous page). With `before` too: the updates between the two.",
            "schema": {"type": "string", "pattern": STREAM_ID_INPUT_PATTERN},
        },
        "Order": {
            "name": "order",
            "in": "query",
            "description": "`newest` first (the default) or `oldest` first.",
            "schema": {"type": "string", "enum": ["newest", "oldest"], "default": "newest"},
        },
        "KeyEvents": {
            "name": "key_events",
            "in": "query",
            "description": "`1`: key events only (`0`: every update, the default).",
            "schema": {"type": "string", "enum": ["0", "1", "true", "false"], "default": "0"},
        },
        "IdempotencyKey": {
            "name": "Idempotency-Key",
            "in": "header",
            "description": "Same key and same body within 24 hours: the first response, "
            "nothing new published or saved. Same key, different body: 409.",
            "schema": {"type": "string", "minLength": 1, "maxLength": MAX_IDEMPOTENCY_KEY},
        },
        "LastEventIdHeader": {
            "name": "Last-Event-ID",
            "in": "header",
            "description": last_event_id + " Sent by EventSource on reconnect.",
            "schema": {"type": "string", "pattern": STREAM_ID_INPUT_PATTERN},
        },
        "LastEventIdQuery": {
            "name": "last_event_id",
            "in": "query",
            "description": last_event_id,
            "schema": {"type": "string", "pattern": STREAM_ID_INPUT_PATTERN},
        },
    }


def _paths() -> dict[str, Any]:
    slug = _ref("parameters", "Slug")
    update_id = _ref("parameters", "UpdateId")
    blog_ok = {"200": {"description": "The blog.", "content": _json(_schema("Blog"))}}
    update_ok = {"200": {"description": "The update.", "content": _json(_schema("Update"))}}
    return {
        "/api/v1/blogs": {
            "get": {
                "operationId": "listBlogs",
                "summary": "List blogs",
                "tags": ["blogs"],
                "responses": {
                    "200": {"description": "All blogs.", "content": _json(_schema("BlogList"))},
                    **_errors(503),
                },
            },
            "post": {
                **_write(
                    "createBlog",
                    "Create a blog (admin)",
                    "NewBlog",
                    {"201": {"description": "Created.", "content": _json(_schema("Blog"))}},
                    _errors(
                        400, 401, 403, 409, 413, 415, 422, 429, 503, e409="A blog with this slug exists."
                    ),
                ),
                "tags": ["blogs"],
            },
        },
        "/api/v1/blogs/{slug}": {
            "parameters": [slug],
            "get": {
                "operationId": "getBlog",
                "summary": "One blog, with its last_event_id",
                "tags": ["blogs"],
                "responses": {**blog_ok, **_errors(404, 503)},
            },
            "patch": {
                **_write(
                    "updateBlog",
                    "Change a blog's title, description, status, cover image or language",
                    "BlogPatch",
                    blog_ok,
                    _errors(400, 401, 403, 404, 413, 415, 422, 429, 503),
                ),
                "tags": ["blogs"],
            },
        },
        "/api/v1/blogs/{slug}/updates": {
            "parameters": [slug],
            "get": {
                "operationId": "listUpdates",
                "summary": "Current updates, newest or oldest first, or key events only, paged both ways",
                "tags": ["updates"],
                "parameters": [
                    _ref("parameters", "Limit"),
                    _ref("parameters", "Before"),
                    _ref("parameters", "After"),
                    _ref("parameters", "Order"),
                    _ref("parameters", "KeyEvents"),
                ],
                "responses": {
                    "200": {"description": "One page of updates.", "content": _json(_schema("UpdateList"))},
                    **_errors(
                        400,
                        404,
                        422,
                        503,
                        e400="`before` or `after` is not a stream ID.",
                        e422="`limit`, `order` or `key_events` is out of range.",
                    ),
                },
            },
            "post": {
                **_write(
                    "publishUpdate",
                    "Publish an update (or schedule it with scheduled_at)",
                    "NewUpdate",
                    {
                        "202": {
                            "description": "Scheduled: `scheduled_at` is in the future. The update is "
                            "published, with its stream ID, when it falls due.",
                            "content": _json(_schema("ScheduledUpdate")),
                        },
                        "201": _created(
                            "Published. A retry with the same Idempotency-Key and body returns this "
                            "same response.",
                            "Update",
                            "The update's API URL.",
                        ),
                    },
                    _errors(
                        400,
                        401,
                        403,
                        404,
                        409,
                        413,
                        415,
                        422,
                        429,
                        503,
                        e409="The blog has ended (reopen it to publish), or this Idempotency-Key "
                        "was used with a different body.",
                    ),
                ),
                "tags": ["updates"],
                "parameters": [_ref("parameters", "IdempotencyKey")],
            },
        },
        "/api/v1/blogs/{slug}/updates/{id}": {
            "parameters": [slug, update_id],
            "get": {
                "operationId": "getUpdate",
                "summary": "One update",
                "tags": ["updates"],
                "responses": {**update_ok, **_errors(404, 503)},
            },
            "patch": {
                **_write(
                    "editUpdate",
                    "Edit an update",
                    "UpdatePatch",
                    update_ok,
                    _errors(400, 401, 403, 404, 413, 415, 422, 429, 503),
                ),
                "tags": ["updates"],
            },
            "delete": {
                **_write(
                    "deleteUpdate",
                    "Delete an update",
                    None,
                    {"204": {"description": "Deleted."}},
                    _errors(401, 403, 404, 429, 503),
                ),
                "tags": ["updates"],
            },
        },
        "/api/v1/blogs/{slug}/media": {
            "parameters": [slug],
            "post": {
                **_write(
                    "uploadMedia",
                    "Upload an image (JPEG, PNG, WebP or GIF) for the blog's updates",
                    None,
                    {
                        "201": _created(
                            "Stored, re-encoded as WebP without metadata in a few widths. "
                            'Publish it as an update\'s `image` with `{"media": id, "alt": ...}`.',
                            "Media",
                            "Where the widest version is served.",
                        )
                    },
                    _errors(
                        400,
                        401,
                        403,
                        404,
                        413,
                        415,
                        422,
                        429,
                        503,
                        e400="A malformed multipart body.",
                        e413="The file is over `LIVEBLOG_MAX_UPLOAD_BYTES`, or the image over "
                        f"{MAX_UPLOAD_PIXELS:,} pixels.",
                        e415="The request body is not `multipart/form-data`.",
                        e422="No `file` field, another field, or a file that is not a JPEG, PNG, WebP or GIF image, or a GIF "
                        f"of over {MAX_UPLOAD_FRAMES} frames.",
                    ),
                ),
                "requestBody": {
                    "required": True,
                    "content": {
                        "multipart/form-data": {
                            "schema": {
                                "type": "object",
                                "required": ["file"],
                                "properties": {"file": {"type": "string", "format": "binary"}},
                                "additionalProperties": False,
                            }
                        }
                    },
                },
                "tags": ["updates"],
            },
        },
        "/api/v1/blogs/{slug}/webhooks": {
            "parameters": [slug],
            "get": {
                **_write(
                    "listWebhooks",
                    "List the blog's webhooks (admin), without their secrets",
                    None,
                    {"200": {"description": "The webhooks.", "content": _json(_schema("WebhookList"))}},
                    _errors(401, 403, 404, 429, 503),
                ),
                "tags": ["webhooks"],
            },
            "post": {
                **_write(
                    "addWebhook",
                    "Register a webhook (admin); the response holds its signing secret, shown once",
                    "NewWebhook",
                    {"201": {"description": "Registered.", "content": _json(_schema("Webhook"))}},
                    _errors(400, 401, 403, 404, 409, 413, 415, 422, 429, 503),
                ),
                "tags": ["webhooks"],
            },
        },
        "/api/v1/blogs/{slug}/webhooks/{webhook_id}": {
            "parameters": [slug, _ref("parameters", "WebhookId")],
            "delete": {
                **_write(
                    "deleteWebhook",
                    "Remove a webhook (admin)",
                    None,
                    {"204": {"description": "Removed."}},
                    _errors(401, 403, 404, 429, 503),
                ),
                "tags": ["webhooks"],
            },
        },
        "/api/v1/blogs/{slug}/scheduled": {
            "parameters": [slug],
            "get": {
                "operationId": "listScheduled",
                "summary": "The blog's scheduled updates, soonest first (its writers only)",
                "description": "For a writer of the blog: a bearer token allowed on it, or an editor's "
                "session. Not cached (`Cache-Control: private, no-store`): they are embargoed.",
                "security": [{"bearer": []}],
                "tags": ["updates"],
                "responses": {
                    "200": {
                        "description": "The scheduled updates.",
                        "content": _json(_schema("ScheduledList")),
                    },
                    **_errors(401, 403, 404, 503),
                },
            },
        },
        "/api/v1/blogs/{slug}/scheduled/{id}": {
            "parameters": [slug, _ref("parameters", "ScheduledId")],
            "delete": {
                **_write(
                    "cancelScheduled",
                    "Cancel a scheduled update: it is never published",
                    None,
                    {"204": {"description": "Cancelled."}},
                    _errors(
                        401,
                        403,
                        404,
                        429,
                        503,
                        e404="No such blog, or no such scheduled update (published or cancelled).",
                    ),
                ),
                "tags": ["updates"],
            },
        },
        **_draft_paths(slug),
        "/api/v1/blogs/{slug}/events": {
            "parameters": [slug],
            "get": {
                "operationId": "streamEvents",
                "summary": "Server-Sent Events stream of the blog's events",
                "description": "Each event is framed as `id: ID`, `event: TYPE`, `data: JSON` (one line, an "
                "`Event`) and a blank line. A `retry:` line is sent at connect and a `: ping` comment at "
                "least every 15 seconds. The header wins over the query parameter when both are given.",
                "tags": ["streams"],
                "parameters": [
                    _ref("parameters", "LastEventIdHeader"),
                    _ref("parameters", "LastEventIdQuery"),
                ],
                "responses": {
                    "200": {
                        "description": "An endless event stream.",
                        "content": {
                            "text/event-stream": {
                                "schema": {"type": "string"},
                                "example": SSE_EXAMPLE,
                            }
                        },
                    },
                    **_errors(400, 404, 503, e400="The last event ID is not a stream ID."),
                },
            },
        },
        "/api/v1/blogs/{slug}/ws": {
            "parameters": [slug],
            "get": {
                "operationId": "streamWebSocket",
                "summary": "WebSocket stream of the blog's events",
                "description": "A WebSocket upgrade. The server sends one text frame per event, holding the "
                "`Event` JSON, and protocol-level pings; the client sends nothing. Close codes: 1008 for a "
                "bad request (such as a malformed `last_event_id`), 4404 for an unknown blog.",
                "tags": ["streams"],
                "parameters": [_ref("parameters", "LastEventIdQuery")],
                "responses": {"101": {"description": "Switching Protocols: the WebSocket is open."}},
            },
        },
        "/openapi.json": {
            "get": {
                "operationId": "getOpenAPI",
                "summary": "This document",
                "tags": ["meta"],
                "responses": {
                    "200": {"description": "The OpenAPI 3.1 document.", "content": _json({"type": "object"})}
                },
            },
        },
    }


def _draft_paths(slug: dict[str, Any]) -> dict[str, Any]:
    """`.../drafts`: for the blog's writers only, never cached; a contributor's session may create
    drafts and change its own, and gets 403 on publishing."""
    draft_id = _ref("parameters", "DraftId")
    draft_ok = {"200": {"description": "The draft.", "content": _json(_schema("DraftUpdate"))}}
    writers_only = {"security": [{"bearer": []}], "tags": ["drafts"]}
    return {
        "/api/v1/blogs/{slug}/drafts": {
            "parameters": [slug],
            "get": {
                "operationId": "listDrafts",
                "summary": f"The blog's drafts (at most {MAX_DRAFTS}), the latest changed first (its writers only)",
                **writers_only,
                "responses": {
                    "200": {"description": "The drafts.", "content": _json(_schema("DraftList"))},
                    **_errors(401, 403, 404, 503),
                },
            },
            "post": {
                **_write(
                    "createDraft",
                    "Save an update as a draft: on no public path until it is published",
                    "NewDraft",
                    {
                        "201": _created(
                            "Saved. A retry with the same Idempotency-Key and body returns the same "
                            "draft, as it is now (`Idempotent-Replayed: true`), never a second one.",
                            "DraftUpdate",
                            "The draft's API URL.",
                        )
                    },
                    _errors(
                        400,
                        401,
                        403,
                        404,
                        409,
                        413,
                        415,
                        422,
                        429,
                        503,
                        e409=f"The desk holds {MAX_DRAFTS} drafts already, the most it keeps: publish or "
                        "delete some first; or this Idempotency-Key was used with a different body, or "
                        "its draft has since been published or deleted.",
                    ),
                ),
                "tags": ["drafts"],
                "parameters": [_ref("parameters", "IdempotencyKey")],
            },
        },
        "/api/v1/blogs/{slug}/drafts/{id}": {
            "parameters": [slug, draft_id],
            "get": {
                "operationId": "getDraft",
                "summary": "One draft (its blog's writers only)",
                **writers_only,
                "responses": {**draft_ok, **_errors(401, 403, 404, 503)},
            },
            "patch": {
                **_write(
                    "editDraft",
                    "Edit a draft (a contributor: their own)",
                    "DraftPatch",
                    draft_ok,
                    _errors(400, 401, 403, 404, 413, 415, 422, 429, 503),
                ),
                "tags": ["drafts"],
            },
            "delete": {
                **_write(
                    "deleteDraft",
                    "Delete a draft (a contributor: their own)",
                    None,
                    {"204": {"description": "Deleted."}},
                    _errors(401, 403, 404, 429, 503),
                ),
                "tags": ["drafts"],
            },
        },
        "/api/v1/blogs/{slug}/drafts/{id}/publish": {
            "parameters": [slug, draft_id],
            "post": {
                **_write(
                    "publishDraft",
                    "Publish a draft as its author's update (not a contributor's to do)",
                    None,
                    {
                        "201": _created(
                            "Published, and off the desk in the same step. A retry answers the same "
                            "update as it is now (`Idempotent-Replayed: true`), never a second one.",
                            "Update",
                            "The update's API URL.",
                        )
                    },
                    _errors(
                        401,
                        403,
                        404,
                        409,
                        429,
                        503,
                        e404="No such blog, or no such draft (deleted, or published over 24 hours ago).",
                        e409="The blog has ended, or the draft changed while it was being published "
                        "(reload it, then publish), or its update was published and since deleted.",
                    ),
                ),
                "tags": ["drafts"],
            },
        },
    }


METHODS = ("get", "put", "post", "delete", "options", "head", "patch", "trace")  # a path item's operations


def _per_operation(paths: dict[str, Any]) -> dict[str, Any]:
    """The path items' shared parameters (the blog's slug, say) repeated on each of their
    operations, where every reader finds them: Swagger UI (/docs) drops a path-level parameter
    given by `$ref` (swagger-api/swagger-ui#4327), leaving an unlabelled, empty field."""
    moved = {}
    for path, item in paths.items():
        shared = item.get("parameters", [])
        moved[path] = {
            key: {**value, "parameters": [*shared, *value.get("parameters", [])]} if key in METHODS else value
            for key, value in item.items()
            if key != "parameters"
        }
    return moved


@functools.cache
def spec() -> dict[str, Any]:
    """The OpenAPI 3.1.0 document of the API, as a plain dict (built once; do not mutate)."""
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "liveblog API",
            "version": "1.0.0",
            "description": DESCRIPTION,
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "servers": [{"url": "/"}],
        "tags": [
            {"name": "blogs", "description": "Live blogs."},
            {"name": "updates", "description": "The updates of a blog."},
            {"name": "streams", "description": "Live events over SSE and WebSocket."},
            {
                "name": "webhooks",
                "description": "Events POSTed to registered URLs, signed (Standard Webhooks).",
            },
            {"name": "drafts", "description": "Updates saved, not yet published; for the blog's writers."},
            {"name": "meta", "description": "This description."},
        ],
        "paths": _per_operation(_paths()),
        "components": {
            "schemas": _schemas(),
            "responses": _responses(),
            "parameters": _parameters(),
            "headers": {
                "RetryAfter": {
                    "description": "Seconds to wait before retrying.",
                    "schema": {"type": "integer", "minimum": 0},
                }
            },
            "securitySchemes": {
                "bearer": {
                    "type": "http",
                    "scheme": "bearer",
                    "description": "A bot token from `liveblog token create`.",
                }
            },
        },
    }
