"""Pages for editors: login, the blog list (blogs, status, bot tokens) and the per-blog editor,
with its webhooks and feeds for admins.

Thin adapters over the same publish path (`publishing`), validation (`updates`) and store calls
as the bots' API. Every form works without JavaScript (POST, then 303 back); static/js/editor.js
enhances them, and publishes through the API.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from . import auth, desk_updates, media, people, publishing, updates, uploads
from .errors import (
    BlogEnded,
    Conflict,
    Forbidden,
    Invalid,
    LiveblogError,
    NotFound,
    PayloadTooLarge,
    TooManyRequests,
    Unauthorized,
)
from .feedbot import DEFAULT_EVERY, Feeds
from .i18n import N_, gettext_for
from .models import markdown_fits
from .sessions import (
    MAX_FORM_BYTES,
    MAX_UPDATE_FORM_BYTES,
    SESSION_LIFETIME,
    Editor,
    checked_form,
    csrf_token,
    current_editor,
    dummy_hash,
    log_in,
    log_out,
)
from .state import state_of
from .urls import request_origin
from .webhooks import EVENT_TYPES, Webhooks, public

NO_STORE = {"Cache-Control": "no-store", "Vary": "Cookie"}  # what the desk shows follows the session
LOGIN_FAILED = N_("Wrong username or password")
ACCOUNT_DISABLED = N_("This account is disabled: ask an admin")


def _local_path(target: str | None) -> str | None:
    """`target` when it is a path on this site (not `//host` or `/\\host`), else None."""
    if not target or not target.startswith("/") or target.startswith(("//", "/\\")):
        return None
    if any(ord(c) < 32 for c in target):
        return None
    return target


class _LoginRequired(Exception):
    pass


async def require_editor(request: Request, *, write: bool = False) -> Editor:
    """The logged-in editor (else to /login). On a blog's desk page or form, 403 unless they may
    see that blog, or with `write` change it; elsewhere, with `write`, 403 for a contributor
    (their `auth.Principal` decides)."""
    editor = await current_editor(request)
    if editor is None:
        raise _LoginRequired
    slug, principal = request.path_params.get("slug"), editor.principal()
    if slug is not None:
        principal.require_write(slug) if write else principal.require_blog(slug)
    elif write:
        principal.require_publisher()
    return editor


def _to_login(request: Request) -> Response:
    """To /login, then back to the page asked for; after a form's POST, to the page it is on."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    if request.method != "GET":
        slug = request.path_params.get("slug")
        target = f"/editor/{slug}" if slug else "/editor/"
    return RedirectResponse(f"/login?next={quote(target, safe='/')}", 303)


async def require_admin(request: Request, what: str) -> Editor:
    """The logged-in editor when an admin, else 403 naming `what` only admins manage."""
    editor = await require_editor(request)
    if not editor.admin:
        raise Forbidden(f"only admins manage {what}")
    return editor


def _back(request: Request, to: str, message: str, **values: str) -> Response:
    """303 back to `to`, a desk page and its section, which shows `message` once: the result of
    the form posted, in the editor's language (`message` marked with N_, its `%(name)s` filled
    from `values`)."""
    message = gettext_for(request)(message)
    request.session["flash"] = [to, message % values if values else message]
    return RedirectResponse(to, 303)


def _page(request: Request, name: str, context: dict[str, Any], status: int = 200) -> Response:
    context = {"csrf": csrf_token(request), "flash": request.session.pop("flash", None), **context}
    return state_of(request).templates.TemplateResponse(
        request, name, context, status_code=status, headers=NO_STORE
    )


async def login(request: Request) -> Response:
    """Log in. Each attempt is counted against its username and client address in the store
    BEFORE its password is checked (so parallel guesses cannot outrun the lockout, on any
    process or node), and at most `login_concurrency` checks run at once in this process."""
    next_path = _local_path(request.query_params.get("next")) or "/editor/"
    if request.method == "GET":
        if await current_editor(request) is not None:
            return RedirectResponse(next_path, 303)
        return _page(request, "login.html", {"next": next_path, "username": ""})
    form = await checked_form(request)
    username = str(form.get("username") or "").strip()[:100]
    password = str(form.get("password") or "")[:1000]
    next_path = _local_path(str(form.get("next") or "")) or next_path
    client = request.client.host if request.client else "?"
    state = state_of(request)
    store = state.store
    with state.login_gate.slot():
        attempt = await store.login_attempt(
            username, client, (auth.FAILURES_PER_USERNAME, auth.FAILURES_PER_ADDRESS), auth.FAILURE_WINDOW
        )
        if not attempt[0]:
            retry = {"Retry-After": str(attempt[1])}
            raise TooManyRequests("too many failed logins; try again later", headers=retry)
        user = await store.get_user(username) if username else None
        stored = str(user["password"]) if user else dummy_hash()
        ok = await run_in_threadpool(auth.verify_password, stored, password)
    if not (ok and user):
        await asyncio.sleep(auth.failure_delay(attempt[1]))
        context = {"next": next_path, "username": username, "error": gettext_for(request)(LOGIN_FAILED)}
        return _page(request, "login.html", context, 401)
    await store.login_succeeded(username, client)
    if user.get("disabled"):
        context = {"next": next_path, "username": username, "error": gettext_for(request)(ACCOUNT_DISABLED)}
        return _page(request, "login.html", context, 403)
    if auth.needs_rehash(stored):
        rehashed = await run_in_threadpool(auth.hash_password, password)
        await store.patch_user(username, {"password": rehashed}, end_sessions=False, password=stored)
    log_in(request, username, await store.start_session(username, SESSION_LIFETIME))
    return RedirectResponse(next_path, 303)


async def logout(request: Request) -> Response:
    await checked_form(request)
    await log_out(request)
    return RedirectResponse("/", 303)


async def _write_form(
    request: Request,
    limit: int = MAX_FORM_BYTES,
    *,
    admins_manage: str = "",
    drafts: bool = False,
    files: int = 0,
) -> tuple[Editor, FormData]:
    """The editor and their checked form (with at most `files` files), for a write that spends
    the editor's rate limit (the same budget as their writes through the API). With
    `admins_manage` ("webhooks"), the write is an admin's: an editor gets 403 naming it. A
    contributor writes `drafts` only, else 403."""
    editor = await (
        require_admin(request, admins_manage) if admins_manage else require_editor(request, write=not drafts)
    )
    form = await checked_form(request, limit, files=files)
    await state_of(request).rate_limiter.check(editor.principal().rate_key)
    return editor, form


# -- the blog list, blogs and tokens ------------------------------------------------------------


async def _index_page(request: Request, editor: Editor, status: int = 200, **extra: Any) -> Response:
    store = state_of(request).store
    principal = editor.principal()
    blogs = [blog for blog in await store.list_blogs() if principal.allows(blog["slug"])]
    context: dict[str, Any] = {"editor": editor, "blogs": blogs, "new_blog": {}}
    if editor.admin:
        context["tokens"] = await store.list_tokens()
        context["users"] = [people.listed(u) for u in await store.list_users()]
        context["roles"] = people.ROLES
        context["user_form"] = {"role": "editor", "blogs": []}
    context.update(extra)
    return _page(request, "editor_index.html", context, status)


async def editor_index(request: Request) -> Response:
    return await _index_page(request, await require_editor(request))


async def create_blog(request: Request) -> Response:
    """One rule with the API: admins create blogs, editors get 403."""
    editor, form = await _write_form(request)
    editor.principal().require_admin()
    values = {name: str(form.get(name) or "") for name in ("slug", "title", "description")}
    values["lang"] = str(form.get("lang") or "en")
    try:
        slug, title, description, lang = updates.new_blog(values)
        await state_of(request).store.create_blog(slug, title, description, lang)
    except LiveblogError as exc:
        if exc.status >= 500:
            raise
        return await _index_page(request, editor, exc.status, new_blog=values, blog_error=exc.detail)
    return RedirectResponse(f"/editor/{slug}", 303)


async def blog_status(request: Request) -> Response:
    slug = request.path_params["slug"]
    _, form = await _write_form(request)
    changes = updates.blog_changes({"status": str(form.get("status") or "")})
    await state_of(request).store.patch_blog(slug, changes)
    return RedirectResponse(_local_path(str(form.get("back") or "")) or f"/editor/{slug}", 303)


# The blog settings form's text fields (beside the checkbox cover_remove and the file cover_file).
SETTINGS_FIELDS = ("title", "description", "cover_url", "cover_alt")


def _settings_values(blog: Mapping[str, Any]) -> dict[str, str]:
    cover = blog.get("cover") or {}
    return {
        "title": blog["title"],
        "description": blog["description"],
        "cover_url": "",
        "cover_alt": cover.get("alt", ""),
    }


async def blog_settings(request: Request) -> Response:
    """The desk's blog settings: title, description and cover image, posted as a multipart form
    with or without JavaScript. A cover file is uploaded first (as the API's media upload), then
    the blog is patched through the API's path (`publishing.blog_changes`: the same checks, 422s
    and `blog.updated` event); 303 back, or the page again with the error and what was typed."""
    slug = request.path_params["slug"]
    editor = await require_editor(request, write=True)
    state = state_of(request)
    blog = await state.store.require_blog(slug)
    values = _settings_values(blog)
    try:
        form = await checked_form(request, uploads.form_limit(request, MAX_FORM_BYTES), files=1)
        await state.rate_limiter.check(editor.principal().rate_key)
        values = {name: str(form.get(name) or "") for name in SETTINGS_FIELDS}
        remove = _checked(form, "cover_remove")
        cover_file = await uploads.file_of(request, form, "cover_file")
        await form.close()
        patch: dict[str, Any] = {"title": values["title"], "description": values["description"]}
        alt, current = values["cover_alt"], blog.get("cover")
        if remove:
            patch["cover"] = None
        elif cover_file:
            upload = await media.upload(state.store, slug, cover_file, state.uploads)
            patch["cover"] = {"media": upload["id"], "alt": alt}
        elif values["cover_url"].strip():
            patch["cover"] = {"url": values["cover_url"].strip(), "alt": alt}
        elif current and alt != current.get("alt"):  # the same image, described anew
            source = {"media": current["media"]} if current.get("media") else {"url": current["url"]}
            patch["cover"] = {**source, "alt": alt}
        changes = await publishing.blog_changes(state.store, slug, patch)
        await state.store.patch_blog(slug, changes)
    except (Invalid, PayloadTooLarge) as exc:
        return await _blog_page(
            request, editor, slug, status=exc.status, settings_form=values, settings_error=exc.detail
        )
    return _back(request, f"/editor/{slug}#blog-settings", N_("Blog settings saved."))


async def blog_language(request: Request) -> Response:
    """The blog's language (its pages' interface, dates and direction): 422 for one not shipped."""
    slug = request.path_params["slug"]
    _, form = await _write_form(request)
    changes = updates.blog_changes({"lang": str(form.get("lang") or "")})
    await state_of(request).store.patch_blog(slug, changes)
    return RedirectResponse(f"/editor/{slug}", 303)


async def create_token(request: Request) -> Response:
    editor = await require_admin(request, "bot tokens")
    form = await checked_form(request)
    name = str(form.get("name") or "")
    blog = str(form.get("blog") or "").strip()
    store = state_of(request).store
    error = None
    try:
        name = updates.name(name)
    except Invalid as exc:
        error = exc.detail
    if error is None and blog and await store.get_blog(blog) is None:
        error = f"blog: no blog {blog!r}"
    if error is None:
        token = await auth.create_token(store, name, [blog] if blog else None)
        if token is not None:
            return await _index_page(request, editor, 201, new_token={"name": name, "token": token})
        error = f"name: a token named {name!r} exists already"
    return await _index_page(request, editor, 422, token_error=error, token_form={"name": name, "blog": blog})


async def revoke_token(request: Request) -> Response:
    await require_admin(request, "bot tokens")
    name = str((await checked_form(request)).get("name") or "")
    if not await state_of(request).store.revoke_token(name):
        raise NotFound(f"no token named {name!r}")
    return RedirectResponse("/editor/", 303)


async def _manage_user(request: Request, action: str) -> Response:
    editor = await require_admin(request, "users")
    name = str((await checked_form(request)).get("name") or "")
    if name == editor.name:
        raise Conflict(f"you may not {action} your own account")
    store = state_of(request).store
    if action == "remove":
        found = await store.remove_user(name)
    else:
        found = await store.set_user_disabled(name, action == "disable")
    if not found:
        raise NotFound(f"no user {name!r}")
    return RedirectResponse("/editor/#users", 303)


def _user_fields(form: FormData) -> dict[str, Any]:
    """The user form's fields as typed, to check them and to refill the form after an error."""
    values: dict[str, Any] = {k: str(form.get(k) or "") for k in ("name", "display_name", "role", "avatar")}
    values["blogs"] = [str(slug) for slug in form.getlist("blogs")]
    return values


async def _checked_user(request: Request, form: FormData) -> dict[str, Any]:
    """The role, blogs, display name and avatar of the user form, checked (422). An avatar file
    chosen on the form is uploaded like any image, and the avatar is its smallest width."""
    values = _user_fields(form)
    fields = {k: values[k] for k in ("role", "blogs", "display_name", "avatar")}
    checked = await people.profile(state_of(request).store, **fields)
    picture = await uploads.file_of(request, form, "avatar_file")
    if picture:
        state = state_of(request)
        uploaded = await media.upload(state.store, media.AVATARS, picture, state.uploads)
        checked["avatar"] = uploaded["srcset"][0]["url"]
    return checked


async def _user_form(request: Request) -> FormData:
    """The user form: its fields and at most one avatar file."""
    return await checked_form(request, uploads.form_limit(request), files=1)


async def add_user(request: Request) -> Response:
    """Add a user with an initial password; the form again with the error (422, 409, 413)."""
    editor = await require_admin(request, "users")
    form = await _user_form(request)
    try:
        fields = await _checked_user(request, form)
        name = updates.name(str(form.get("name") or ""))
        await people.add(state_of(request).store, name, str(form.get("password") or ""), fields)
    except (Invalid, Conflict, PayloadTooLarge) as exc:
        return await _index_page(
            request, editor, exc.status, user_form=_user_fields(form), user_error=exc.detail
        )
    return _back(request, "/editor/#users", N_("User %(name)s added"), name=name)


async def change_user(request: Request) -> Response:
    """Set a user's role, blogs, display name and avatar: in effect at their next request."""
    editor = await require_admin(request, "users")
    form = await _user_form(request)
    name = str(form.get("name") or "")
    try:
        fields = await _checked_user(request, form)
    except (Invalid, PayloadTooLarge) as exc:
        return await _index_page(request, editor, exc.status, user_error=f"{name}: {exc.detail}")
    if name == editor.name and fields["role"] != editor.role:
        raise Conflict("you may not change your own role")
    if not await state_of(request).store.patch_user(name, fields, end_sessions=False):
        raise NotFound(f"no user {name!r}")
    return _back(request, "/editor/#users", N_("User %(name)s changed"), name=name)


async def reset_password(request: Request) -> Response:
    """A new password for a user, which ends every session of theirs."""
    await require_admin(request, "users")
    form = await checked_form(request)
    name = str(form.get("name") or "")
    if not await people.reset_password(state_of(request).store, name, str(form.get("password") or "")):
        raise NotFound(f"no user {name!r}")
    return _back(
        request, "/editor/#users", N_("New password set for %(name)s: their sessions ended"), name=name
    )


async def disable_user(request: Request) -> Response:
    return await _manage_user(request, "disable")


async def enable_user(request: Request) -> Response:
    return await _manage_user(request, "enable")


async def remove_user(request: Request) -> Response:
    return await _manage_user(request, "remove")


# -- one blog's editor --------------------------------------------------------------------------


def _checked(form: FormData, name: str) -> bool:
    return str(form.get(name) or "") not in ("", "0", "false", "off")


# The text fields of the new-update and edit forms (beside the checkboxes and the new form's image_file).
UPDATE_FIELDS = (
    "title",
    "body",
    "image_url",
    "image_media",
    "image_alt",
    "image_caption",
    "image_credit",
    "scheduled_at",
)


def _update_values(form: FormData) -> dict[str, Any]:
    """The form's fields as typed, to refill the form after an error."""
    values: dict[str, Any] = {name: str(form.get(name) or "") for name in UPDATE_FIELDS}
    values["key_event"] = _checked(form, "key_event")
    values["pinned"] = _checked(form, "pinned")
    return values


def _update_payload(values: dict[str, Any], *, new: bool) -> dict[str, Any]:
    """The same JSON object a bot would send, built from the form's values."""
    payload: dict[str, Any] = {
        "title": values["title"].strip() or None,
        "body": values["body"].replace("\r\n", "\n"),
        "key_event": values["key_event"],
        "pinned": values["pinned"],
    }
    source = (
        {"media": values["image_media"]} if values["image_media"] else {"url": values["image_url"].strip()}
    )
    if any(source.values()):
        _require_alt(values)
        payload["image"] = {
            **source,
            "alt": values["image_alt"],
            "caption": values["image_caption"],
            "credit": values["image_credit"],
        }
    elif not new:
        payload["image"] = None
    if new and values["scheduled_at"].strip():
        moment = values["scheduled_at"].strip()
        if "T" in moment and moment[-1] != "Z" and "+" not in moment[10:]:
            moment += ":00Z" if len(moment) == 16 else "Z"  # datetime-local carries no zone: UTC
        payload["scheduled_at"] = moment
    return payload


def _require_alt(values: dict[str, Any]) -> None:
    """The desk asks for an image's alt text (the API takes "" for a decorative image)."""
    if not values["image_alt"].strip():
        raise Invalid("image.alt", "describe the image for readers who cannot see it")


async def _attach_upload(request: Request, slug: str, form: FormData, values: dict[str, Any]) -> None:
    """An image file chosen on an update's form (posted without JavaScript) is uploaded first, and
    `values` name the upload; alt text is asked for before the work of the upload (422)."""
    image = await uploads.file_of(request, form, "image_file")
    await form.close()
    if image:
        _require_alt(values)
        state = state_of(request)
        values["image_media"] = (await media.upload(state.store, slug, image, state.uploads))["id"]


def _update_form_limit(request: Request) -> int:
    """The bytes of an update's form: its fields and one image file."""
    return uploads.form_limit(request, MAX_UPDATE_FORM_BYTES)


def _empty_update() -> dict[str, Any]:
    return {**dict.fromkeys(UPDATE_FIELDS, ""), "key_event": False, "pinned": False}


async def _blog_page(
    request: Request, editor: Editor, slug: str, *, status: int = 200, **extra: Any
) -> Response:
    store = state_of(request).store
    blog = await store.require_blog(slug)
    context: dict[str, Any] = {
        "editor": editor,
        "blog": blog,
        **await desk_updates.listing(request, store, slug),
        "scheduled": await store.list_scheduled(slug),
        "form": _empty_update(),
        "error": None,
        "reading": await store.audience(slug),
        "audience_every": state_of(request).settings.audience_interval,
        "drafts": await store.list_drafts(slug),
        "settings_form": _settings_values(blog),
        "settings_error": None,
        # The embed snippet's absolute URLs (the desk is rendered per request, never shared).
        "origin": state_of(request).settings.public_url or request_origin(request),
    }
    context["publishers"] = await store.publishers(slug, [u["id"] for u in context["updates"]])
    if editor.admin:
        feeds = Feeds(store)
        context |= {
            "webhooks": [_listed_webhook(r) for r in await Webhooks(store).registered(slug)],
            "feeds": [{**r, "state": await feeds.state(r)} for r in await feeds.registered(slug)],
            "event_types": EVENT_TYPES,
            "webhook_form": {"url": "", "events": []},
            "feed_form": {"url": "", "every": str(DEFAULT_EVERY), "backfill": "0", "key_events": False},
        }
    context.update(extra)
    return _page(request, "editor_blog.html", context, status)


async def editor_blog(request: Request) -> Response:
    return await _blog_page(request, await require_editor(request), request.path_params["slug"])


async def audience(request: Request) -> Response:
    """`{"reading": N}`: the blog's readers now, over every process and node, for the desk's
    "N reading now" (static/js/editor.js asks every `audience_interval` seconds). Editors of the
    blog only."""
    slug = request.path_params["slug"]
    editor = await current_editor(request)
    if editor is None:
        raise Unauthorized("log in to the desk to see who is reading")
    editor.principal().require_blog(slug)
    store = state_of(request).store
    await store.require_blog(slug)
    return JSONResponse({"reading": await store.audience(slug)}, headers=NO_STORE)


async def publish(request: Request) -> Response:
    """The form's publish without JavaScript (303 back, or the form again with the error): its
    image file, if one is chosen, is uploaded first. editor.js uploads the file and publishes
    through the API instead, with the session and its CSRF token."""
    slug = request.path_params["slug"]
    editor = await require_editor(request, write=True)
    state = state_of(request)
    values = _empty_update()
    try:
        form = await checked_form(request, _update_form_limit(request), files=1)
        await state.rate_limiter.check(editor.principal().rate_key)
        await state.store.require_blog(slug)
        values = _update_values(form)
        await _attach_upload(request, slug, form, values)
        payload = _update_payload(values, new=True)
        await publishing.publish(state.store, slug, payload, editor.author, via="editor")
    except (Invalid, PayloadTooLarge, BlogEnded) as exc:
        return await _blog_page(request, editor, slug, status=exc.status, form=values, error=exc.detail)
    return RedirectResponse(f"/editor/{slug}", 303)


async def preview(request: Request) -> Response:
    """The HTML a body would publish as, within the same limits as publishing (else 413)."""
    await require_editor(request)
    form = await checked_form(request, MAX_UPDATE_FORM_BYTES)
    body = str(form.get("body") or "")
    markdown_fits(body)
    html = await run_in_threadpool(updates.render_body, body)
    return HTMLResponse(html, headers=NO_STORE)


def _form_of(update: Mapping[str, Any]) -> dict[str, Any]:
    image = update.get("image") or {}
    return {
        "title": update.get("title") or "",
        "body": update.get("body") or "",
        "key_event": bool(update.get("key_event")),
        "pinned": bool(update.get("pinned")),
        "image_url": "" if image.get("media") else image.get("url", ""),
        "image_media": image.get("media", ""),
        "image_alt": image.get("alt", ""),
        "image_caption": image.get("caption", ""),
        "image_credit": image.get("credit", ""),
        "scheduled_at": "",
    }


async def edit_update(request: Request) -> Response:
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    editor = await require_editor(request, write=True)
    store = state_of(request).store
    blog = await store.require_blog(slug)
    current = await store.require_update(slug, update_id)
    context: dict[str, Any] = {"editor": editor, "blog": blog, "update": current, "error": None}
    if request.method == "GET":
        context["history"] = await desk_updates.history(store, slug, current)
        return _page(request, "editor_edit.html", {**context, "form": _form_of(current)})
    _, form = await _write_form(request, MAX_UPDATE_FORM_BYTES)
    values = _update_values(form)
    try:
        await publishing.edit(store, slug, current, _update_payload(values, new=False), by=editor.author)
    except (Invalid, PayloadTooLarge) as exc:
        context["history"] = await desk_updates.history(store, slug, current)
        return _page(
            request, "editor_edit.html", {**context, "form": values, "error": exc.detail}, exc.status
        )
    return RedirectResponse(await desk_updates.place(store, slug, update_id), 303)


async def _set_flag(request: Request, flag: str) -> Response:
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    editor, form = await _write_form(request)
    store = state_of(request).store
    current = await store.require_update(slug, update_id)
    wanted = form.get(flag)
    value = _checked(form, flag) if wanted is not None else not current.get(flag)
    if bool(current.get(flag)) != value:
        await store.replace_update(slug, updates.edited_update(current, {flag: value}), by=editor.author)
    return RedirectResponse(await desk_updates.place(store, slug, update_id), 303)


async def pin_update(request: Request) -> Response:
    return await _set_flag(request, "pinned")


async def key_event_update(request: Request) -> Response:
    return await _set_flag(request, "key_event")


async def delete_update(request: Request) -> Response:
    slug, update_id = request.path_params["slug"], request.path_params["update_id"]
    await _write_form(request)
    store = state_of(request).store
    back = (await desk_updates.place(store, slug, update_id)).partition("#")[0]
    await store.delete_update(slug, update_id)
    return RedirectResponse(back, 303)


async def cancel_scheduled(request: Request) -> Response:
    """Take a scheduled update off the schedule; one published or cancelled meanwhile is 404."""
    slug, scheduled_id = request.path_params["slug"], request.path_params["scheduled_id"]
    await _write_form(request)
    store = state_of(request).store
    await store.require_blog(slug)
    if not await store.cancel_scheduled(slug, scheduled_id):
        raise NotFound("this update is no longer scheduled: published or cancelled already")
    return RedirectResponse(f"/editor/{slug}#scheduled", 303)


# -- one blog's webhooks and feeds (admins) ------------------------------------------------------
# Thin adapters over the registries that the CLI and the API use, with their validation.


def _listed_webhook(record: dict[str, Any]) -> dict[str, Any]:
    """A webhook as the desk lists it: no secret, and its state (enabled, failing, disabled) and why."""
    state, why = "enabled", ""
    if record.get("disabled"):
        state, why = "disabled", str(record["disabled"])
    elif record.get("failing_since"):
        since = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(float(record["failing_since"])))
        state, why = "failing", f"retrying since {since}"
    return {**public(record), "state": state, "why": why}


def _number(text: str, default: int) -> Any:
    """`text` as an int, `default` when empty; else the text itself, for the registry to refuse
    with its own message."""
    if not text:
        return default
    try:
        return int(text)
    except ValueError:
        return text


async def add_webhook(request: Request) -> Response:
    """Register a webhook; the page answering shows its signing secret, the only time it is shown
    (a 201 page, not a redirect: the secret goes in no URL and no cookie)."""
    slug = request.path_params["slug"]
    editor, form = await _write_form(request, admins_manage="webhooks")
    values: dict[str, Any] = {
        "url": str(form.get("url") or "").strip(),
        "events": [str(e) for e in form.getlist("events")],
    }
    state = state_of(request)
    allow = state.settings.allow_private_urls
    try:
        record = await Webhooks(state.store).add(slug, values["url"], values["events"], allow_private=allow)
    except Invalid as exc:
        return await _blog_page(
            request, editor, slug, status=exc.status, webhook_form=values, webhook_error=exc.detail
        )
    return await _blog_page(request, editor, slug, status=201, new_webhook=record)


async def webhook_log(request: Request) -> Response:
    """A webhook of this blog and its latest deliveries, newest first."""
    slug, hook_id = request.path_params["slug"], request.path_params["webhook_id"]
    editor = await require_admin(request, "webhooks")
    store = state_of(request).store
    blog = await store.require_blog(slug)
    hooks = Webhooks(store)
    record = _listed_webhook(await hooks.get(hook_id, slug))
    context = {"editor": editor, "blog": blog, "webhook": record, "log": await hooks.log(hook_id)}
    return _page(request, "editor_webhook.html", context)


async def remove_webhook(request: Request) -> Response:
    slug, hook_id = request.path_params["slug"], request.path_params["webhook_id"]
    await _write_form(request, admins_manage="webhooks")
    record = await Webhooks(state_of(request).store).remove(hook_id, slug)
    return _back(
        request,
        f"/editor/{slug}#webhooks",
        N_("Webhook %(id)s to %(url)s removed"),
        id=record["id"],
        url=record["url"],
    )


async def add_feed(request: Request) -> Response:
    slug = request.path_params["slug"]
    editor, form = await _write_form(request, admins_manage="feeds")
    values: dict[str, Any] = {
        name: str(form.get(name) or "").strip() for name in ("url", "every", "backfill")
    }
    values["key_events"] = _checked(form, "key_events")
    state = state_of(request)
    try:
        record = await Feeds(state.store).add(
            slug,
            values["url"],
            every=_number(values["every"], DEFAULT_EVERY),
            backfill=_number(values["backfill"], 0),
            key_events=values["key_events"],
            allow_private=state.settings.allow_private_urls,
        )
    except Invalid as exc:
        return await _blog_page(
            request, editor, slug, status=exc.status, feed_form=values, feed_error=exc.detail
        )
    return _back(
        request, f"/editor/{slug}#feeds", N_("Feed %(id)s added: %(url)s"), id=record["id"], url=record["url"]
    )


async def remove_feed(request: Request) -> Response:
    slug, feed_id = request.path_params["slug"], request.path_params["feed_id"]
    await _write_form(request, admins_manage="feeds")
    record = await Feeds(state_of(request).store).remove(feed_id, slug)
    return _back(
        request,
        f"/editor/{slug}#feeds",
        N_("Feed %(id)s removed: %(url)s"),
        id=record["id"],
        url=record["url"],
    )


def _guarded(endpoint: Any) -> Any:
    """Send anyone not logged in to /login?next=..., the page they wanted."""

    async def wrapper(request: Request) -> Response:
        try:
            response: Response = await endpoint(request)
        except _LoginRequired:
            return _to_login(request)
        return response

    wrapper.__name__ = endpoint.__name__
    wrapper.__doc__ = endpoint.__doc__
    return wrapper


def routes() -> list[BaseRoute]:
    update = "/editor/{slug}/updates/{update_id}"
    webhook = "/editor/{slug}/webhooks/{webhook_id}"
    return [
        Route("/login", login, methods=["GET", "POST"]),
        Route("/logout", logout, methods=["POST"]),
        Route("/editor", lambda request: RedirectResponse("/editor/", 308)),
        Route("/editor/", _guarded(editor_index), methods=["GET"]),
        Route("/editor/", _guarded(create_blog), methods=["POST"]),
        Route("/editor/tokens", _guarded(create_token), methods=["POST"]),
        Route("/editor/tokens/revoke", _guarded(revoke_token), methods=["POST"]),
        Route("/editor/users", _guarded(add_user), methods=["POST"]),
        Route("/editor/users/change", _guarded(change_user), methods=["POST"]),
        Route("/editor/users/password", _guarded(reset_password), methods=["POST"]),
        Route("/editor/users/disable", _guarded(disable_user), methods=["POST"]),
        Route("/editor/users/enable", _guarded(enable_user), methods=["POST"]),
        Route("/editor/users/remove", _guarded(remove_user), methods=["POST"]),
        Route("/editor/{slug}", _guarded(editor_blog), methods=["GET"]),
        Route("/editor/{slug}/audience", audience, methods=["GET"]),
        Route("/editor/{slug}/status", _guarded(blog_status), methods=["POST"]),
        Route("/editor/{slug}/settings", _guarded(blog_settings), methods=["POST"]),
        Route("/editor/{slug}/language", _guarded(blog_language), methods=["POST"]),
        Route("/editor/{slug}/updates", _guarded(publish), methods=["POST"]),
        Route("/editor/{slug}/preview", _guarded(preview), methods=["POST"]),
        Route(f"{update}/edit", _guarded(edit_update), methods=["GET", "POST"]),
        Route(f"{update}/pin", _guarded(pin_update), methods=["POST"]),
        Route(f"{update}/key-event", _guarded(key_event_update), methods=["POST"]),
        Route(f"{update}/delete", _guarded(delete_update), methods=["POST"]),
        Route("/editor/{slug}/scheduled/{scheduled_id}/cancel", _guarded(cancel_scheduled), methods=["POST"]),
        Route("/editor/{slug}/webhooks", _guarded(add_webhook), methods=["POST"]),
        Route(f"{webhook}/log", _guarded(webhook_log), methods=["GET"]),
        Route(f"{webhook}/remove", _guarded(remove_webhook), methods=["POST"]),
        Route("/editor/{slug}/feeds", _guarded(add_feed), methods=["POST"]),
        Route("/editor/{slug}/feeds/{feed_id}/remove", _guarded(remove_feed), methods=["POST"]),
    ]
