"""Embeds without tracking: a paragraph that holds only the URL of a post or a video of a known
service becomes a card (the service's name, the link, a "Load content" button). Nothing of the
third party loads until the reader clicks: then static/js/embeds.js puts the service's own embed
iframe in the card's place. `FRAME_ORIGINS` are the only origins the CSP lets pages frame
(security.py), and the only ones the sanitizer lets a card name (render.py).

Mastodon has no one host: a `https://HOST/@user/123` post is a card when HOST is one of
`MASTODON_HOSTS` (the CSP must name every origin it may frame); elsewhere it stays a link.

Pure functions, no web framework: render.py calls `embed_of` on each such paragraph.
"""

from __future__ import annotations

import html
import re
from dataclasses import dataclass
from urllib.parse import urlsplit

MASTODON_HOSTS = frozenset(
    {
        "mastodon.social", "mastodon.online", "mastodon.world", "mas.to", "mstdn.social",
        "fosstodon.org", "hachyderm.io", "infosec.exchange", "journa.host", "newsie.social",
    }
)  # fmt: skip

_TAIL = r"/?(?:\?[^#]*)?$"  # an optional trailing slash and query: tracking parameters, a start time


@dataclass(frozen=True, slots=True)
class _Rule:
    service: str  # the name the card shows
    hosts: frozenset[str]
    path: re.Pattern[str]  # matched against the URL's path and query
    frame: str  # the service's embed URL, from the path's groups and `host`


def _rule(service: str, hosts: set[str] | frozenset[str], path: str, frame: str) -> _Rule:
    return _Rule(service, frozenset(hosts), re.compile(path + _TAIL), frame)


_YOUTUBE_ID = r"(?P<id>[A-Za-z0-9_-]{11})"
RULES: tuple[_Rule, ...] = (
    _rule(
        "YouTube",
        {"youtube.com", "www.youtube.com", "m.youtube.com"},
        rf"/(?:watch\?(?:[^#]*&)?v=|shorts/|live/|embed/){_YOUTUBE_ID}(?:&[^#]*)?",
        "https://www.youtube-nocookie.com/embed/{id}",
    ),
    _rule("YouTube", {"youtu.be"}, rf"/{_YOUTUBE_ID}", "https://www.youtube-nocookie.com/embed/{id}"),
    _rule(
        "X",
        {"x.com", "www.x.com", "twitter.com", "www.twitter.com", "mobile.twitter.com"},
        r"/(?:[A-Za-z0-9_]{1,15}|i/web)/status(?:es)?/(?P<id>[0-9]{1,20})",
        "https://platform.twitter.com/embed/Tweet.html?id={id}",
    ),
    _rule(
        "Bluesky",
        {"bsky.app"},
        r"/profile/(?P<actor>[A-Za-z0-9.:_-]{1,253})/post/(?P<rkey>[A-Za-z0-9._~:-]{1,512})",
        "https://embed.bsky.app/embed/{actor}/app.bsky.feed.post/{rkey}",
    ),
    _rule(
        "Instagram",
        {"instagram.com", "www.instagram.com"},
        r"/(?:[A-Za-z0-9_.]{1,30}/)?(?P<kind>p|reel|tv)/(?P<code>[A-Za-z0-9_-]{5,40})",
        "https://www.instagram.com/{kind}/{code}/embed/",
    ),
    _rule(
        "TikTok",
        {"tiktok.com", "www.tiktok.com", "m.tiktok.com"},
        r"/@[A-Za-z0-9_.]{1,30}/video/(?P<id>[0-9]{1,20})",
        "https://www.tiktok.com/player/v1/{id}",
    ),
    _rule(
        "Telegram",
        {"t.me", "telegram.me"},
        r"/(?:s/)?(?P<channel>[A-Za-z][A-Za-z0-9_]{3,31})/(?P<post>[0-9]{1,12})",
        "https://t.me/{channel}/{post}?embed=1",
    ),
    _rule(
        "Mastodon",
        MASTODON_HOSTS,
        r"/@(?P<user>[A-Za-z0-9_]{1,30})/(?P<id>[0-9]{1,20})",
        "https://{host}/@{user}/{id}/embed",
    ),
)


def _frame_origins() -> tuple[str, ...]:
    origins: set[str] = set()
    for rule in RULES:
        if "{host}" in rule.frame:
            origins.update(f"https://{host}" for host in rule.hosts)
        else:
            parts = urlsplit(rule.frame)
            origins.add(f"{parts.scheme}://{parts.netloc}")
    return tuple(sorted(origins))


FRAME_ORIGINS = _frame_origins()


@dataclass(frozen=True, slots=True)
class Embed:
    service: str
    url: str  # the post's URL, as written
    frame: str  # the service's embed iframe URL


def embed_of(text: str) -> Embed | None:
    """The embed of `text` when it is only the URL of a known service's post (or video), else None."""
    url = text.strip()
    if not url or any(c.isspace() for c in url) or not url.isascii():
        return None
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    host = (parts.hostname or "").lower()
    if parts.scheme not in ("http", "https") or parts.netloc.lower() != host:  # no port, no user
        return None
    target = parts.path + (f"?{parts.query}" if parts.query else "")
    for rule in RULES:
        if host in rule.hosts and (match := rule.path.match(target)):
            return Embed(rule.service, url, rule.frame.format(host=host, **match.groupdict()))
    return None


def framable(src: str) -> bool:
    """Whether an iframe of `src` is one of the services' (what a card may load)."""
    return any(src.startswith(origin + "/") for origin in FRAME_ORIGINS)


def card(embed: Embed) -> str:
    """The card's markup: the service's name, the link and the button; no third-party URL is
    fetched by it (the iframe's URL waits in `data-embed-src`)."""
    service, url, frame = (html.escape(v, quote=True) for v in (embed.service, embed.url, embed.frame))
    return (
        f'<figure class="embed" data-embed-service="{service}" data-embed-src="{frame}">\n'
        f'<figcaption><strong>{service}</strong> <a href="{url}">{url}</a></figcaption>\n'
        '<button type="button" class="embed-load">Load content</button>\n'
        "</figure>\n"
    )
