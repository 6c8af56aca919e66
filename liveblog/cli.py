"""The `liveblog` command: serve, worker, blog create|list|end|reopen, user
add|list|remove|disable|enable, token create|list|revoke, webhook add|list|remove|log,
feed add|list|remove, compact, post.

An expected failure (Redis unreachable, a bad setting, an unknown blog, a refused connection, an
error answer) is one line on stderr and a non-zero exit: `main()` turns them into that line, in
one place (`_one_line`); anything else is a bug and keeps its traceback.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import getpass
import importlib.metadata
import os
import secrets
import signal
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import uvicorn
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from . import (
    __version__,
    auth,
    connections,
    demo,
    logs,
    metrics,
    people,
    protocol,
    publishing,
    runner,
    sse,
    updates,
)
from .embedded import EmbeddedRedis
from .errors import LiveblogError
from .feedbot import Feeds
from .languages import DEFAULT_LANGUAGE, LANGUAGES
from .models import Author, Blog, NewBlog, validate
from .redis_client import connect
from .settings import SETTINGS, Setting, Settings
from .store import Store
from .webhooks import Webhooks

WS_MAX_SIZE = 64 * 1024


class CommandError(Exception):
    """An expected failure of a command: its message is the one line the operator sees."""


def version() -> str:
    """The installed distribution's version; the package's own from a bare checkout."""
    try:
        return importlib.metadata.version("liveblog")
    except importlib.metadata.PackageNotFoundError:
        return __version__


@contextlib.contextmanager
def redis_url(settings: Settings, *, supervise: bool = False) -> Iterator[str]:
    """The configured Redis, or the embedded one (started here when no server holds the data dir)."""
    if settings.redis_url:
        yield settings.redis_url
        return
    embedded = EmbeddedRedis(settings.data_dir)
    try:
        yield embedded.start(supervise=supervise)
    finally:
        embedded.stop()


@contextlib.asynccontextmanager
async def open_store(url: str, *, cluster: bool = False) -> AsyncIterator[Store]:
    """The store on the Redis at `url` (a node of a Redis Cluster when `cluster`), its keys
    moved to the current layout (`Store.migrate`)."""
    client = connect(url, cluster=cluster)
    try:
        store = Store(client)
        await store.migrate()
        yield store
    finally:
        await client.aclose()


def _settings(args: argparse.Namespace) -> Settings:
    overrides = {name: getattr(args, name, None) for name in FLAGS}
    if getattr(args, "no_workers", False):
        overrides["in_process_workers"] = False
    try:
        return Settings.from_env(**overrides)
    except ValueError as exc:  # it names the variable: "LIVEBLOG_PORT: invalid literal ..."
        raise CommandError(f"bad setting {exc}") from None


# -- serve ---------------------------------------------------------------------------------------


async def seed_demo(store: Store) -> str | None:
    """On an empty store, create the demo blog and an admin; returns the admin's password."""
    if await store.list_blogs():
        return None
    await store.create_blog(demo.DEMO_SLUG, demo.DEMO_TITLE, demo.DEMO_DESCRIPTION)
    author: Author = {"name": "Newsdesk", "kind": "editor"}
    for item in demo.DEMO_UPDATES:
        await publishing.publish(store, demo.DEMO_SLUG, item, author, via="demo")
    if await store.count_users():
        return None
    password = secrets.token_urlsafe(12)
    await store.put_user(
        "admin", {"name": "admin", "role": "admin", "password": auth.hash_password(password)}
    )
    return password


def cmd_serve(args: argparse.Namespace) -> int:
    # Before anything starts: what liveblog relies on in uvicorn and sse-starlette holds, or the
    # server does not run.
    protocol.check()
    connections.check()
    sse.check()
    settings = _settings(args)
    log_config = logs.configure(settings)  # uvicorn applies it again in each worker process
    with redis_url(settings, supervise=True) as url, metrics.multiprocess_dir(settings.workers):
        if args.demo:
            password = asyncio.run(_with_store(url, seed_demo, cluster=settings.redis_cluster))
            if password:
                # On stdout, for the person at the terminal; a password has no place in the log.
                print(f"Demo blog ready. Editor login: admin / {password} (shown once)", flush=True)
        child = settings.with_(redis_url=url)
        os.environ.update(child.to_env())
        logs.startup(settings, version=version(), redis_url=url)
        uvicorn.run(
            "liveblog.app:create_app",
            factory=True,
            host=settings.host,
            port=settings.port,
            workers=settings.workers,
            loop="uvloop",
            # httptools with a bounded request head and a cap on connections (see `protocol`).
            http=protocol.LimitedHttpToolsProtocol,
            # uvicorn believes X-Forwarded-For from 127.0.0.1 by default: anyone on the host could
            # then pick their address (and dodge the per-address login lockout). Unset: no proxy
            # is trusted, whatever uvicorn's own FORWARDED_ALLOW_IPS says.
            proxy_headers=settings.forwarded_allow_ips is not None,
            forwarded_allow_ips=settings.forwarded_allow_ips or "",
            # The implementation uvicorn 0.54 recommends (its `auto`); `connections` reaches its
            # transport. Its keep-alive is a timer per connection, no task: a ping every interval,
            # and a peer that has not answered it an interval later is dropped.
            ws="websockets-sansio",
            ws_max_size=WS_MAX_SIZE,
            ws_ping_interval=settings.ping_interval,
            ws_ping_timeout=settings.ping_interval,
            # Every event is encoded once for all readers; per-message deflate would compress
            # it again for each WebSocket reader, on the fan-out path.
            ws_per_message_deflate=False,
            lifespan="on",
            timeout_graceful_shutdown=5,
            log_config=log_config,
            log_level=settings.log_level,
            access_log=settings.access_log,
        )
    return 0


# -- worker --------------------------------------------------------------------------------------


def cmd_worker(args: argparse.Namespace) -> int:
    """Run the named workers (every installed one when none is named) until SIGTERM or SIGINT."""
    settings = _settings(args)
    try:
        chosen = list(runner.resolve(args.names))  # an unknown name fails before Redis starts
    except runner.UnknownWorker as exc:
        raise CommandError(str(exc)) from None
    logs.configure(settings)
    with redis_url(settings) as url:
        asyncio.run(_run_workers(chosen, settings.with_(redis_url=url)))
    return 0


async def _run_workers(names: list[str], settings: Settings) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, stop.set)
    try:
        async with runner.context(settings, stop) as ctx:
            await ctx.store.migrate()
            await runner.run_workers(names, ctx)
    finally:
        for signum in (signal.SIGTERM, signal.SIGINT):
            loop.remove_signal_handler(signum)


async def _with_store(url: str, action: Any, *, cluster: bool = False) -> Any:
    async with open_store(url, cluster=cluster) as store:
        return await action(store)


def _run(settings: Settings, action: Any) -> Any:
    with redis_url(settings) as url:
        return asyncio.run(_with_store(url, action, cluster=settings.redis_cluster))


# -- admin commands --------------------------------------------------------------------------------


def cmd_blog_create(args: argparse.Namespace) -> int:
    obj: dict[str, Any] = {
        "slug": args.slug,
        "title": args.title,
        "description": args.description or "",
        "lang": args.lang,
    }
    if args.cover:
        obj["cover"] = {"url": args.cover, "alt": args.cover_alt or ""}
    slug, title, description, lang = updates.new_blog(obj)
    given = validate(NewBlog, obj).cover

    async def action(store: Store) -> None:
        cover = await publishing.cover(store, slug, given)
        await store.create_blog(slug, title, description, lang, cover=cover)

    _run(_settings(args), action)
    print(f"created blog {slug}: /blogs/{slug}")
    return 0


def cmd_blog_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[Blog]:
        return await store.list_blogs()

    for blog in _run(_settings(args), action):
        print(f"{blog['slug']}\t{blog.get('status') or 'live'}\t{blog['title']}")
    return 0


def cmd_blog_status(args: argparse.Namespace) -> int:
    """`blog end|reopen SLUG`: a `blog.updated` event, so every reader sees it live."""
    status = {"end": "ended", "reopen": "live"}[args.action]

    async def action(store: Store) -> Blog:
        return await store.patch_blog(args.slug, {"status": status})

    _run(_settings(args), action)
    print(f"blog {args.slug} {status}")
    return 0


def cmd_user_add(args: argparse.Namespace) -> int:
    """Add a user, or reset one's password, role, blogs, display name and avatar: every session of
    theirs ends."""
    name = updates.name(args.name)
    if args.password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = getpass.getpass(f"Password for {name}: ")

    async def action(store: Store) -> None:
        fields = await people.profile(
            store,
            role=args.role,
            blogs=args.blog or (),
            display_name=args.display_name or "",
            avatar=args.avatar or "",
        )
        await store.put_user(name, await people.record(name, password, fields))

    _run(_settings(args), action)
    print(f"user {name} ({args.role}) saved")
    return 0


def cmd_user_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[dict[str, Any]]:
        return await store.list_users()

    for record in _run(_settings(args), action):
        status = "disabled" if record.get("disabled") else "active"
        print(f"{record['name']}\t{record.get('role') or 'editor'}\t{status}")
    return 0


def cmd_user_change(args: argparse.Namespace) -> int:
    """`user remove|disable|enable NAME`: the first two end every session of that user at once."""

    async def action(store: Store) -> bool:
        if args.action == "remove":
            return await store.remove_user(args.name)
        return await store.set_user_disabled(args.name, args.action == "disable")

    if not _run(_settings(args), action):
        print(f"error: no user {args.name!r}", file=sys.stderr)
        return 1
    print(f"user {args.name} {args.action}d")
    return 0


def cmd_token_create(args: argparse.Namespace) -> int:
    args.name = updates.name(args.name)

    async def action(store: Store) -> str | None:
        for slug in args.blog or ():
            await store.require_blog(slug)
        return await auth.create_token(store, args.name, args.blog)

    token = _run(_settings(args), action)
    if token is None:
        print(f"error: a token named {args.name!r} exists; revoke it first", file=sys.stderr)
        return 1
    scope = ", ".join(args.blog) if args.blog else "every blog (admin)"
    print(f"token {args.name!r} for {scope}; it is shown once, only its hash is stored:")
    print(token)
    return 0


def cmd_token_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[dict[str, Any]]:
        return await store.list_tokens()

    for record in _run(_settings(args), action):
        scope = ",".join(record["blogs"]) if record.get("blogs") else "*"
        print(f"{record['name']}\t{scope}\t{record['created_at']}")
    return 0


def cmd_compact(args: argparse.Namespace) -> int:
    async def action(store: Store) -> bool:
        return await store.compact()

    if not _run(_settings(args), action):
        print("error: this Redis keeps no append-only file; nothing to rewrite", file=sys.stderr)
        return 1
    print("append-only file rewritten: deleted and edited text is gone from it")
    return 0


def cmd_webhook_add(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def action(store: Store) -> dict[str, Any]:
        return await Webhooks(store).add(
            args.blog, args.url, args.event, allow_private=settings.allow_private_urls
        )

    record = _run(settings, action)
    kinds = ", ".join(record["events"]) or "every event"
    print(f"webhook {record['id']} on {record['blog']} -> {record['url']} ({kinds})")
    print("its signing secret, shown once:")
    print(record["secret"])
    return 0


def cmd_webhook_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[dict[str, Any]]:
        return await Webhooks(store).registered(args.blog)

    for record in _run(_settings(args), action):
        status = f"disabled: {record['disabled']}" if record.get("disabled") else "active"
        kinds = ",".join(record["events"]) or "*"
        print(f"{record['id']}\t{record['blog']}\t{record['url']}\t{kinds}\t{status}")
    return 0


def cmd_webhook_remove(args: argparse.Namespace) -> int:
    async def action(store: Store) -> dict[str, Any]:
        return await Webhooks(store).remove(args.id)

    record = _run(_settings(args), action)
    print(f"webhook {record['id']} removed from {record['blog']}")
    return 0


def cmd_webhook_log(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[dict[str, Any]]:
        return await Webhooks(store).log(args.id)

    for line in _run(_settings(args), action):
        status = line.get("status", "")
        detail = line.get("error") or line.get("reason") or line.get("retry_at") or ""
        print(
            f"{line['time']}\t{line.get('event', '')}\t{line.get('attempt', '')}\t{status}\t{line['result']}\t{detail}".rstrip()
        )
    return 0


def cmd_feed_add(args: argparse.Namespace) -> int:
    settings = _settings(args)

    async def action(store: Store) -> dict[str, Any]:
        return await Feeds(store).add(
            args.blog,
            args.url,
            every=args.every,
            backfill=args.backfill,
            key_events=args.key_events,
            allow_private=settings.allow_private_urls,
        )

    record = _run(settings, action)
    print(f"feed on {record['blog']} <- {record['url']} (every {record['every']} s)")
    print(record["id"])
    return 0


def cmd_feed_list(args: argparse.Namespace) -> int:
    async def action(store: Store) -> list[dict[str, Any]]:
        return await Feeds(store).registered(args.blog)

    for record in _run(_settings(args), action):
        print(f"{record['id']}\t{record['blog']}\t{record['url']}\t{record['every']}")
    return 0


def cmd_feed_remove(args: argparse.Namespace) -> int:
    async def action(store: Store) -> dict[str, Any]:
        return await Feeds(store).remove(args.id)

    record = _run(_settings(args), action)
    print(f"feed {record['id']} removed from {record['blog']}")
    return 0


def cmd_token_revoke(args: argparse.Namespace) -> int:
    async def action(store: Store) -> bool:
        return await store.revoke_token(args.name)

    if not _run(_settings(args), action):
        print(f"error: no token named {args.name!r}", file=sys.stderr)
        return 1
    print(f"token {args.name!r} revoked")
    return 0


def cmd_post(args: argparse.Namespace) -> int:
    import httpx  # the one command that speaks HTTP: the others do not pay for importing it

    settings = _settings(args)
    token = args.token or os.environ.get("LIVEBLOG_TOKEN")
    if not token:
        print("error: give --token or set LIVEBLOG_TOKEN", file=sys.stderr)
        return 2
    base = args.url or f"http://{settings.host}:{settings.port}"
    payload: dict[str, Any] = {"body": args.text, "key_event": args.key_event}
    if args.title:
        payload["title"] = args.title
    response = httpx.post(
        f"{base.rstrip('/')}/api/v1/blogs/{args.slug}/updates",
        json=payload,
        headers={"Authorization": f"Bearer {token}", "Idempotency-Key": secrets.token_hex(16)},
        timeout=10,
    )
    if response.status_code != 201:
        raise CommandError(f"{base} answered {response.status_code} {_problem(response)}")
    update = response.json()
    print(f"published {update['id']}: {base.rstrip('/')}{update['url']}")
    return 0


def _problem(response: Any) -> str:
    """An error answer in a line: its problem+json title and detail, or the start of its body."""
    try:
        problem = response.json()
        return f"{problem['title']}: {problem['detail']}"
    except (ValueError, KeyError, TypeError):
        return response.text.strip().replace("\n", " ")[:200]


# -- parser ----------------------------------------------------------------------------------------

# The settings that are also flags (flags win over the environment).
FLAGS = ("host", "port", "workers", "redis_url", "data_dir")
_BY_NAME = {s.name: s for s in SETTINGS}


def _parse_flag(setting: Setting) -> Callable[[str], Any]:
    def parse(raw: str) -> Any:
        try:
            return setting.parse(raw)
        except ValueError as exc:
            raise argparse.ArgumentTypeError(f"{raw!r}: {exc}") from None

    return parse


def _setting_flag(parser: argparse.ArgumentParser, name: str) -> None:
    """A flag for a setting, its help from the settings table: meaning, variable, default."""
    setting = _BY_NAME[name]
    default = "unset" if setting.default is None else setting.default
    text = f"{setting.help} (env {setting.env}, default {default})".replace("`", "").replace("%", "%%")
    parser.add_argument(
        "--" + name.replace("_", "-"), type=_parse_flag(setting), metavar=name.upper(), help=text
    )


def _common(parser: argparse.ArgumentParser) -> None:
    _setting_flag(parser, "redis_url")
    _setting_flag(parser, "data_dir")


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="liveblog", description="Live-updates blog service")
    root.add_argument("--version", action="version", version=f"liveblog {version()}")
    commands = root.add_subparsers(dest="command", required=True)

    serve = commands.add_parser("serve", help="run the web server")
    for name in ("host", "port", "workers"):
        _setting_flag(serve, name)
    _common(serve)
    serve.add_argument(
        "--demo",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="on an empty store, create the demo blog and an admin whose password is printed once (default off)",
    )
    serve.add_argument(
        "--no-workers",
        action="store_true",
        help="do not run the background workers in the server (as LIVEBLOG_IN_PROCESS_WORKERS=0): "
        "a `liveblog worker` process runs them",
    )
    serve.set_defaults(func=cmd_serve)

    worker = commands.add_parser(
        "worker",
        help="run background workers in the foreground until SIGTERM/SIGINT (all when none is named)",
    )
    worker.add_argument("names", nargs="*", metavar="NAME", help="scheduler, webhooks or feeds")
    _common(worker)
    worker.set_defaults(func=cmd_worker)

    blog = commands.add_parser("blog", help="manage blogs").add_subparsers(dest="action", required=True)
    create = blog.add_parser("create", help="create a blog")
    create.add_argument("slug")
    create.add_argument("--title", required=True)
    create.add_argument("--description")
    create.add_argument("--cover", metavar="URL", help="an https URL of the blog's cover image (og:image)")
    create.add_argument("--cover-alt", metavar="TEXT", help="the cover image's alt text")
    create.add_argument(
        "--lang", choices=LANGUAGES, default=DEFAULT_LANGUAGE, help="the blog's language (default: en)"
    )
    _common(create)
    create.set_defaults(func=cmd_blog_create)
    blist = blog.add_parser("list", help="list blogs: slug, status (live or ended), title")
    _common(blist)
    blist.set_defaults(func=cmd_blog_list)
    for action, text in (
        ("end", "mark a blog ended (readers see it live; new updates are refused)"),
        ("reopen", "make an ended blog live again"),
    ):
        change = blog.add_parser(action, help=text)
        change.add_argument("slug")
        _common(change)
        change.set_defaults(func=cmd_blog_status)

    user = commands.add_parser("user", help="manage editors").add_subparsers(dest="action", required=True)
    add = user.add_parser("add", help="add or reset an editor")
    add.add_argument("name")
    add.add_argument("--role", choices=people.ROLES, default="editor")
    add.add_argument(
        "--blog", action="append", help="limit the user to this blog (repeatable; none: every blog)"
    )
    add.add_argument("--display-name", help="the name their updates are signed with (default: NAME)")
    add.add_argument("--avatar", help="their byline's picture: an https URL or a /media/... path")
    add.add_argument("--password-stdin", action="store_true", help="read the password from stdin")
    _common(add)
    add.set_defaults(func=cmd_user_add)
    ulist = user.add_parser("list", help="list editors: name, role, active or disabled")
    _common(ulist)
    ulist.set_defaults(func=cmd_user_list)
    for action, text in (
        ("remove", "remove an editor, ending their sessions"),
        ("disable", "stop an editor from logging in, ending their sessions"),
        ("enable", "let a disabled editor log in again"),
    ):
        change = user.add_parser(action, help=text)
        change.add_argument("name")
        _common(change)
        change.set_defaults(func=cmd_user_change)

    token = commands.add_parser("token", help="manage bot tokens").add_subparsers(
        dest="action", required=True
    )
    tcreate = token.add_parser("create", help="create a token (printed once)")
    tcreate.add_argument("--name", required=True)
    tcreate.add_argument("--blog", action="append", help="limit the token to this blog (repeatable)")
    _common(tcreate)
    tcreate.set_defaults(func=cmd_token_create)
    tlist = token.add_parser("list", help="list tokens")
    _common(tlist)
    tlist.set_defaults(func=cmd_token_list)
    trevoke = token.add_parser("revoke", help="revoke a token")
    trevoke.add_argument("name")
    _common(trevoke)
    trevoke.set_defaults(func=cmd_token_revoke)

    webhook = commands.add_parser("webhook", help="manage webhooks").add_subparsers(
        dest="action", required=True
    )
    wadd = webhook.add_parser("add", help="register a webhook (its signing secret is printed once)")
    wadd.add_argument("--blog", required=True)
    wadd.add_argument("--url", required=True)
    wadd.add_argument(
        "--event", action="append", help="only this event type (repeatable; default: every event)"
    )
    wadd.set_defaults(func=cmd_webhook_add)
    wlist = webhook.add_parser("list", help="list webhooks: id, blog, url, events, status")
    wlist.add_argument("--blog", help="only this blog's")
    wlist.set_defaults(func=cmd_webhook_list)
    wremove = webhook.add_parser("remove", help="remove a webhook")
    wremove.add_argument("id")
    wremove.set_defaults(func=cmd_webhook_remove)
    wlog = webhook.add_parser(
        "log", help="a webhook's latest deliveries: time, event, attempt, status, result"
    )
    wlog.add_argument("id")
    wlog.set_defaults(func=cmd_webhook_log)
    for sub in (wadd, wlist, wremove, wlog):
        _common(sub)

    feed = commands.add_parser(
        "feed", help="manage the feeds (RSS, Atom, JSON) a blog follows"
    ).add_subparsers(dest="action", required=True)
    fadd = feed.add_parser(
        "add", help="follow a feed: its new items become updates (its ID is the last line)"
    )
    fadd.add_argument("--blog", required=True)
    fadd.add_argument("--url", required=True)
    fadd.add_argument(
        "--every", type=int, default=60, help="seconds between two polls (default 60, 1 to 86400)"
    )
    fadd.add_argument(
        "--backfill",
        type=int,
        default=0,
        help="how many of the items in the feed now to post (default 0, at most 5000)",
    )
    fadd.add_argument("--key-events", action="store_true", help="post its items as key events")
    fadd.set_defaults(func=cmd_feed_add)
    flist = feed.add_parser("list", help="list feeds: id, blog, url, seconds between polls")
    flist.add_argument("--blog", help="only this blog's")
    flist.set_defaults(func=cmd_feed_list)
    fremove = feed.add_parser("remove", help="stop following a feed")
    fremove.add_argument("id")
    fremove.set_defaults(func=cmd_feed_remove)
    for sub in (fadd, flist, fremove):
        _common(sub)

    compact = commands.add_parser(
        "compact", help="rewrite Redis's append-only file, so deleted text leaves the disk (takedowns)"
    )
    _common(compact)
    compact.set_defaults(func=cmd_compact)

    post = commands.add_parser("post", help="publish an update through the HTTP API, as a bot would")
    post.add_argument("slug")
    post.add_argument("text", help="the update's Markdown body")
    post.add_argument("--title")
    post.add_argument("--key-event", action="store_true")
    post.add_argument("--url", help="the server's base URL (default http://HOST:PORT)")
    post.add_argument("--token", help="bot token (default $LIVEBLOG_TOKEN)")
    _common(post)
    post.set_defaults(func=cmd_post)
    return root


def _one_line(exc: BaseException) -> str | None:
    """The line an expected failure prints; None for anything else (a bug keeps its traceback)."""
    if isinstance(exc, LiveblogError):  # an unknown blog, a name already taken, ...
        return exc.detail
    if isinstance(exc, CommandError):
        return str(exc)
    if isinstance(exc, RedisConnectionError | RedisTimeoutError):
        return f"Redis unreachable: {exc}"
    httpx = sys.modules.get("httpx")  # imported by `post` only
    if httpx is not None and isinstance(exc, httpx.TransportError):
        try:
            where = f" {exc.request.url}"
        except RuntimeError:  # no request attached
            where = ""
        return f"cannot reach the server{where}: {exc or type(exc).__name__}"
    if isinstance(exc, OSError):
        return str(exc)
    return None


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except KeyboardInterrupt:
        return 130
    except Exception as exc:
        line = _one_line(exc)
        if line is None:
            raise
        print(f"error: {line}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
