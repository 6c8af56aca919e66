"""The desk's drafts and scheduled posts: save the form as a draft, review, edit, publish or delete
a draft, and edit a scheduled update's title, text and time.

Thin adapters over drafts.py and the store, with editor.py's helpers; every form works without
JavaScript (POST, then 303 back). A contributor saves drafts and changes their own; the rest is an
editor's (403).
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from . import drafts, updates
from .editor import (
    _attach_upload,
    _back,
    _blog_page,
    _form_of,
    _guarded,
    _page,
    _update_form_limit,
    _update_payload,
    _update_values,
    _write_form,
    require_editor,
)
from .errors import DeskFull, Invalid, NotFound, PayloadTooLarge
from .i18n import N_
from .models import NewUpdate, validate
from .sessions import MAX_UPDATE_FORM_BYTES, Editor
from .state import state_of
from .store import iso

DRAFT_FIELDS = ("title", "body", "key_event", "image")


async def _draft_payload(request: Request, form: FormData, values: dict[str, Any]) -> dict[str, Any]:
    """The draft request of the form's `values` (as typed, to show them again), with the image
    file chosen on it uploaded (422, 413)."""
    await _attach_upload(request, request.path_params["slug"], form, values)
    payload = _update_payload(values, new=False)
    return {name: payload[name] for name in DRAFT_FIELDS}


async def save_draft(request: Request) -> Response:
    """The new-update form saved as a draft (its "Save draft" button)."""
    slug = request.path_params["slug"]
    editor, form = await _write_form(request, _update_form_limit(request), drafts=True, files=1)
    values = _update_values(form)
    try:
        payload = await _draft_payload(request, form, values)
        await drafts.create(state_of(request).store, slug, payload, editor.principal())
    except (Invalid, PayloadTooLarge, DeskFull) as exc:
        return await _blog_page(request, editor, slug, status=exc.status, form=values, error=exc.detail)
    return _back(
        request, f"/editor/{slug}#drafts", N_("Draft saved: readers do not see it until it is published")
    )


async def _draft_page(
    request: Request,
    editor: Editor,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status: int = 200,
) -> Response:
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    store = state_of(request).store
    blog = await store.require_blog(slug)
    draft, _ = await drafts.get(store, slug, draft_id)
    context = {
        "editor": editor,
        "blog": blog,
        "draft": draft,
        "mine": draft["owner"] == editor.principal().rate_key,
        "form": form or _form_of(draft),
        "error": error,
    }
    return _page(request, "editor_draft.html", context, status)


async def edit_draft(request: Request) -> Response:
    """A draft's page (GET), and its form saved (POST)."""
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    if request.method == "GET":
        return await _draft_page(request, await require_editor(request))
    editor, form = await _write_form(request, _update_form_limit(request), drafts=True, files=1)
    values = _update_values(form)
    try:
        payload = await _draft_payload(request, form, values)
        await drafts.edit(state_of(request).store, slug, draft_id, payload, editor.principal())
    except (Invalid, PayloadTooLarge) as exc:
        return await _draft_page(request, editor, values, exc.detail, exc.status)
    return _back(request, f"/editor/{slug}#drafts", N_("Draft saved"))


async def publish_draft(request: Request) -> Response:
    """Publish a draft: from the list (no fields), or from its page with the edits made there."""
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    editor, form = await _write_form(request, _update_form_limit(request), files=1)
    store = state_of(request).store
    principal = editor.principal()
    if "body" in form:
        values = _update_values(form)
        try:
            await drafts.edit(store, slug, draft_id, await _draft_payload(request, form, values), principal)
        except (Invalid, PayloadTooLarge) as exc:
            return await _draft_page(request, editor, values, exc.detail, exc.status)
    result = await drafts.publish(store, slug, draft_id, principal)
    return RedirectResponse(f"/editor/{slug}#update-{result.update['id']}", 303)


async def delete_draft(request: Request) -> Response:
    slug, draft_id = request.path_params["slug"], request.path_params["draft_id"]
    editor, _ = await _write_form(request, drafts=True)
    await drafts.delete(state_of(request).store, slug, draft_id, editor.principal())
    return _back(request, f"/editor/{slug}#drafts", N_("Draft deleted"))


# -- scheduled updates: edit the title, the text and the time -------------------------------------


async def _scheduled(request: Request) -> dict[str, Any]:
    slug, scheduled_id = request.path_params["slug"], request.path_params["scheduled_id"]
    store = state_of(request).store
    await store.require_blog(slug)
    for item in await store.list_scheduled(slug):
        if item["scheduled_id"] == scheduled_id:
            return item
    raise NotFound("this update is no longer scheduled: published or cancelled already")


def _scheduled_form(item: dict[str, Any]) -> dict[str, Any]:
    # datetime-local's value, in UTC: editor.js shows it in the editor's zone, and sends UTC back.
    return {"title": item.get("title") or "", "body": item["body"], "scheduled_at": item["scheduled_at"][:16]}


def _rescheduled(item: dict[str, Any], values: dict[str, Any]) -> dict[str, Any]:
    """The publish request of a scheduled update with the form's title, text and time; its key
    event, pinned and image flags stay as they were scheduled."""
    typed = _update_payload(values, new=True)
    payload: dict[str, Any] = {n: typed[n] for n in ("title", "body", "scheduled_at") if n in typed}
    payload |= {"key_event": bool(item.get("key_event")), "pinned": bool(item.get("pinned"))}
    if item.get("image"):
        payload["image"] = item["image"]
    return payload


async def edit_scheduled(request: Request) -> Response:
    """A scheduled update's form (GET), and its title, text and time saved (POST)."""
    slug, scheduled_id = request.path_params["slug"], request.path_params["scheduled_id"]
    store = state_of(request).store
    if request.method == "GET":
        editor = await require_editor(request)
        editor.principal().require_publisher()
        item = await _scheduled(request)
        return await _scheduled_page(request, editor, item, _scheduled_form(item))
    editor, form = await _write_form(request, MAX_UPDATE_FORM_BYTES)
    item = await _scheduled(request)
    values = _update_values(form)
    try:
        new = validate(NewUpdate, _rescheduled(item, values))
        at = new.scheduled_at
        if at is None or at <= datetime.now(UTC):
            raise Invalid("scheduled_at", "must be a time in the future (or cancel the update)")
        fields = await asyncio.to_thread(updates.draft, slug, new, item["author"])
    except (Invalid, PayloadTooLarge) as exc:
        return await _scheduled_page(request, editor, item, values, exc.detail, exc.status)
    if not await store.edit_scheduled(slug, scheduled_id, fields, at):
        raise NotFound("this update is no longer scheduled: published or cancelled already")
    return _back(
        request, f"/editor/{slug}#scheduled", N_("Scheduled update saved, to publish at %(at)s"), at=iso(at)
    )


async def _scheduled_page(
    request: Request,
    editor: Editor,
    item: dict[str, Any],
    form: dict[str, Any],
    error: str | None = None,
    status: int = 200,
) -> Response:
    blog = await state_of(request).store.require_blog(request.path_params["slug"])
    context = {"editor": editor, "blog": blog, "item": item, "form": form, "error": error}
    return _page(request, "editor_scheduled.html", context, status)


def routes() -> list[BaseRoute]:
    """Beside editor.routes() (this module uses editor.py's helpers, so editor.py cannot import it)."""
    draft = "/editor/{slug}/drafts/{draft_id}"
    return [
        Route("/editor/{slug}/drafts", _guarded(save_draft), methods=["POST"]),
        Route(f"{draft}/edit", _guarded(edit_draft), methods=["GET", "POST"]),
        Route(f"{draft}/publish", _guarded(publish_draft), methods=["POST"]),
        Route(f"{draft}/delete", _guarded(delete_draft), methods=["POST"]),
        Route(
            "/editor/{slug}/scheduled/{scheduled_id}/edit", _guarded(edit_scheduled), methods=["GET", "POST"]
        ),
    ]
