"""The API's shapes, written once: the limits, the requests a writer sends and the documents it gets.

Requests are pydantic models: `validate()` checks a parsed JSON body against one (422 naming the
field, 413 for the byte limits) and `openapi.py` generates its `components/schemas` from the same
classes. Documents the API returns (`Blog`, `Update`, ...) are TypedDicts: the code reads them with
static types, and the JSON the store keeps passes through as it is, never re-validated or re-encoded
on a read or on the fan-out path.

A byte limit is a rule JSON Schema cannot state (`maxLength` counts characters): it is enforced here
and stated in the field's description; the schema's `maxLength` is the looser bound in characters.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal, NotRequired, TypeVar
from urllib.parse import urlsplit

from pydantic import (
    AfterValidator,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    ValidationError,
    model_validator,
    with_config,
)
from pydantic_core import ErrorDetails
from typing_extensions import TypedDict  # pydantic needs this one on Python < 3.12

from .errors import Invalid, PayloadTooLarge
from .events import EventType, StoredEventType
from .languages import Direction, Language

MAX_BODY_BYTES = 64 * 1024  # of Markdown, as UTF-8
MAX_HTML_BYTES = 8 * MAX_BODY_BYTES  # ordinary Markdown grows 1-4x; reference links can grow 1000x
MAX_REQUEST_BYTES = 256 * 1024
MAX_TITLE = 300
MAX_TEXT = 2000
MAX_NAME = 100  # user and token names
MAX_IDEMPOTENCY_KEY = 200
MAX_DRAFTS = 200  # on one blog's desk at once, each up to an update's size: bounds the drafts list
MAX_SCHEDULE_AHEAD = timedelta(days=366)
MAX_UPLOAD_PIXELS = 50_000_000  # an uploaded image's width x height (a 50 MP camera's photo fits)
MAX_UPLOAD_FRAMES = 1000  # an uploaded GIF's frames (its first is kept)

SLUG_PATTERN = r"^[a-z0-9](?:[a-z0-9-]{0,62}[a-z0-9])?$"
STREAM_ID_PATTERN = r"^\d+-\d+$"
# What the server accepts as a position: up to 19 digits always fits Redis's 64-bit halves.
STREAM_ID_INPUT_PATTERN = r"^[0-9]{1,19}(?:-[0-9]{1,19})?$"
# Text fields take no control characters but tab, CR and LF: XML, hence Atom, cannot carry the C0
# ones, and HTML's parser calls DEL, the C1 controls and Unicode's noncharacters errors (the Nu HTML
# Checker fails a page that holds one). Some must hold more than white space (as str.isspace() sees it).
# (As escapes, which Python's re, pydantic's Rust regex and the OpenAPI document's readers share.)
_NONCHARACTERS = r"\uFDD0-\uFDEF" + "".join(
    rf"\U{plane + 0xFFFE:08X}\U{plane + 0xFFFF:08X}" for plane in range(0, 0x110000, 0x10000)
)
_FORBIDDEN = r"\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f" + _NONCHARACTERS
_TEXT_CHAR = f"[^{_FORBIDDEN}]"
_VISIBLE_CHAR = rf"[^\x00-\x20\x85\xa0\u1680\u2000-\u200a\u2028\u2029\u202f\u205f\u3000{_FORBIDDEN}]"
TEXT_PATTERN = f"^{_TEXT_CHAR}*$"
NON_BLANK_PATTERN = f"^{_TEXT_CHAR}*{_VISIBLE_CHAR}{_TEXT_CHAR}*$"
HTTPS_URL_PATTERN = r"^https://[^\s/?#]"
HTTP_URL_PATTERN = r"^https?://[^\s/?#@]"
MEDIA_ID_PATTERN = r"^[0-9a-f]{32}$"
_CONTROL = re.compile(f"[{_FORBIDDEN}]")

# What a failed pattern means, in the words a 422 uses.
_PATTERN_MESSAGES = {
    SLUG_PATTERN: "lowercase letters, digits and hyphens, 1 to 64 characters",
    TEXT_PATTERN: "must not contain control characters",
    NON_BLANK_PATTERN: "must not contain control characters",
    HTTPS_URL_PATTERN: "must be an https:// URL",
    HTTP_URL_PATTERN: "an http or https URL with a host",
    MEDIA_ID_PATTERN: "the id of an upload: 32 hexadecimal digits",
}

Status = Literal["live", "ended"]
AuthorKind = Literal["editor", "bot"]


def _absent(schema: dict[str, Any]) -> None:
    """For a field that may be left out but not be null: its `None` default is no value to send."""
    schema.pop("default", None)


def _optional(**extra: Any) -> Any:
    """A field that may be left out; `extra`: more of its JSON Schema (pydantic takes one
    `json_schema_extra` per field, and this one is a function)."""

    def schema(value: dict[str, Any]) -> None:
        _absent(value)
        value.update(extra)

    return Field(default=None, json_schema_extra=schema)


def markdown_fits(value: Any) -> Any:
    """413 for Markdown over the byte limit, before any other check of the body."""
    if isinstance(value, str) and len(value.encode("utf-8", "surrogatepass")) > MAX_BODY_BYTES:
        raise PayloadTooLarge(f"body: Markdown over {MAX_BODY_BYTES} bytes")
    return value


def _https_url(value: str) -> str:
    if _CONTROL.search(value):
        raise ValueError("must not contain control characters")
    try:
        parts = urlsplit(value)
    except ValueError:  # "https://[x": an unclosed IPv6 literal, or a host that NFKC turns into "/"
        raise ValueError("must be an https:// URL") from None
    if parts.scheme != "https" or not parts.netloc:
        raise ValueError("must be an https:// URL")
    return value


def parse_time(value: Any) -> datetime:
    """An RFC 3339 date-time with a zone, in UTC; ValueError saying what is wrong if it is not one."""
    if not isinstance(value, str):
        raise ValueError("must be an RFC 3339 date-time string")
    try:  # RFC 3339 allows a lower-case "t" and "z"; fromisoformat() does not
        moment = datetime.fromisoformat(value.upper().replace("Z", "+00:00"))
    except ValueError:
        raise ValueError("must be an RFC 3339 date-time string") from None
    if moment.tzinfo is None:
        raise ValueError("must carry a time zone (e.g. Z)")
    try:
        return moment.astimezone(UTC)
    except OverflowError:  # "0001-01-01T00:00:00+01:00" is before year 1 in UTC
        raise ValueError("must be a time between the years 1 and 9999 in UTC") from None


def within_a_year(moment: datetime) -> datetime:
    if moment - datetime.now(UTC) > MAX_SCHEDULE_AHEAD:
        raise ValueError("must be within a year from now")
    return moment


StreamId = Annotated[
    str,
    Field(
        pattern=STREAM_ID_PATTERN,
        description="A Redis stream ID, `milliseconds-sequence`; strictly increasing per blog.",
        examples=["1650769560000-0"],
    ),
]
Slug = Annotated[str, Field(pattern=SLUG_PATTERN)]
Timestamp = Annotated[str, Field(json_schema_extra={"format": "date-time"}, description="RFC 3339, UTC.")]
Text = Annotated[str, Field(pattern=TEXT_PATTERN, max_length=MAX_TEXT)]
BlogTitle = Annotated[str, Field(pattern=NON_BLANK_PATTERN, max_length=MAX_TITLE)]
UpdateTitle = Annotated[str, Field(pattern=TEXT_PATTERN, max_length=MAX_TITLE)] | None
Markdown = Annotated[
    str,
    Field(
        min_length=1,
        pattern=NON_BLANK_PATTERN,
        max_length=MAX_BODY_BYTES,
        description=f"Markdown source, at most {MAX_BODY_BYTES} bytes of UTF-8 that render to at most "
        f"{MAX_HTML_BYTES} bytes of HTML (413 beyond). Raw HTML is not passed through.",
    ),
    BeforeValidator(markdown_fits),
]
ScheduledAt = Annotated[
    datetime,
    BeforeValidator(parse_time),
    AfterValidator(within_a_year),
    Field(description="RFC 3339; a time in the future schedules the update instead of publishing it now."),
]


# -- requests --------------------------------------------------------------------------------


class _Request(BaseModel):
    # strict: JSON's types as they are (no "yes" for true, no 1 for "1"); frozen: validated once;
    # defer_build: each validator is built at its first use, so a CLI command that validates nothing
    # does not pay for them (`liveblog --version`: 0.65 s of CPU without, 0.48 s with; 0.28 s before
    # pydantic, which is the rest).
    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, defer_build=True)


MediaId = Annotated[
    str,
    Field(
        pattern=MEDIA_ID_PATTERN,
        description="The `id` of an image uploaded to this blog (`POST /api/v1/blogs/{slug}/media`).",
    ),
]


class ImageInput(_Request):
    """An image: either an https `url` hosted elsewhere or the `media` id of one uploaded to the blog
    (422 with both or neither: a rule this schema states in words, as a `oneOf` of the two made the
    fuzz test's generator of requests too slow to run)."""

    url: Annotated[str, Field(pattern=HTTPS_URL_PATTERN, max_length=MAX_TEXT), AfterValidator(_https_url)] = (
        _optional(format="uri")
    )
    media: MediaId = _optional()
    alt: Text = Field(description='The image\'s text alternative; say "" for a decorative image.')
    caption: Text = ""
    credit: Text = Field(default="", description="Who made the image (shown beside the caption).")

    @model_validator(mode="after")
    def _one_source(self) -> ImageInput:
        if (self.url is None) == (self.media is None):
            raise ValueError("give either url (an https image) or media (the id of an upload)")
        return self


class NewUpdate(_Request):
    body: Markdown
    title: UpdateTitle = None
    key_event: bool = False
    pinned: bool = False
    image: ImageInput | None = None
    scheduled_at: ScheduledAt | None = None


class UpdatePatch(_Request):
    title: UpdateTitle = None
    body: Markdown = _optional()
    key_event: bool = _optional()
    pinned: bool = _optional()
    image: ImageInput | None = None


class NewDraft(_Request):
    """An update saved as a draft: it is published later (by an editor, for a contributor's)."""

    body: Markdown
    title: UpdateTitle = None
    key_event: bool = False
    image: ImageInput | None = None


class DraftPatch(_Request):
    title: UpdateTitle = None
    body: Markdown = _optional()
    key_event: bool = _optional()
    image: ImageInput | None = None


class CoverInput(_Request):
    """A blog's cover image, its pages' `og:image` and JSON-LD `image`: an https `url` hosted
    elsewhere or the `media` id of an image uploaded to the blog (422 with both or neither)."""

    url: Annotated[str, Field(pattern=HTTPS_URL_PATTERN, max_length=MAX_TEXT), AfterValidator(_https_url)] = (
        _optional(format="uri")
    )
    media: MediaId = _optional()
    alt: Text = Field(default="", description="The image's text alternative (`og:image:alt`).")

    @model_validator(mode="after")
    def _one_source(self) -> CoverInput:
        if (self.url is None) == (self.media is None):
            raise ValueError("give either url (an https image) or media (the id of an upload)")
        return self


_COVER_FIELD = "An image for the blog's link previews and search results (Open Graph, JSON-LD)"


BlogLanguage = Annotated[
    Language,
    Field(description="The blog's language (BCP 47): its pages' interface, dates and direction."),
]


class NewBlog(_Request):
    slug: Slug
    title: BlogTitle
    description: Text = ""
    cover: CoverInput | None = Field(
        default=None, description=f"{_COVER_FIELD}; an upload needs the blog first."
    )
    lang: BlogLanguage = "en"


class BlogPatch(_Request):
    model_config = ConfigDict(json_schema_extra={"minProperties": 1})

    title: BlogTitle = _optional()
    description: Text = _optional()
    status: Status = _optional()
    cover: CoverInput | None = Field(default=None, description=f"{_COVER_FIELD}; null removes it.")
    lang: BlogLanguage = _optional()


class NewWebhook(_Request):
    url: str = Field(
        pattern=HTTP_URL_PATTERN,
        max_length=MAX_TEXT,
        json_schema_extra={"format": "uri"},
        description="http or https; loopback, link-local and private addresses are refused unless "
        "`LIVEBLOG_ALLOW_PRIVATE_URLS=1`.",
    )
    events: list[StoredEventType] = Field(
        default_factory=list,
        json_schema_extra={"uniqueItems": True},
        description="The event types to send; left out: every one.",
    )


_Model = TypeVar("_Model", bound=BaseModel)


def validate(model: type[_Model], obj: Any) -> _Model:
    """`obj` (a parsed JSON body) as `model`: Invalid (422) naming the first wrong field, or
    PayloadTooLarge (413) from a byte limit."""
    try:
        return model.model_validate(obj)
    except ValidationError as exc:
        raise _invalid(obj, exc.errors(include_url=False)[0]) from None


def _invalid(obj: Any, error: ErrorDetails) -> Invalid:
    loc, kind, ctx = error["loc"], error["type"], error.get("ctx", {})
    value = error.get("input")
    if kind == "string_unicode" and isinstance(_at(obj, loc), dict):  # a key, not a value
        return Invalid(_path((*loc, value)), "unknown field")
    if not loc:
        return Invalid("body", "the request body must be a JSON object")
    messages = {
        "missing": "field required",
        "extra_forbidden": "unknown field",
        "string_type": "must be a string",
        "bool_type": "must be true or false",
        "list_type": "must be a list",
        "model_type": "must be an object",
        "string_unicode": "must be valid Unicode text (no lone surrogates)",
        "string_too_short": "must not be empty",
    }
    if kind in messages:
        message = messages[kind]
    elif kind == "string_too_long":
        message = f"must be at most {ctx['max_length']} characters"
    elif kind == "literal_error":
        message = f"must be {ctx['expected']}"
    elif kind == "string_pattern_mismatch":
        blank = ctx["pattern"] == NON_BLANK_PATTERN and not _CONTROL.search(str(value))
        message = "must not be empty" if blank else _PATTERN_MESSAGES.get(ctx["pattern"], error["msg"])
    elif kind == "value_error":
        message = str(ctx["error"])
    else:
        message = error["msg"]
    return Invalid(_path(loc), message)


def _at(obj: Any, loc: Sequence[int | str]) -> Any:
    for part in loc:
        try:
            obj = obj[part]
        except (KeyError, IndexError, TypeError):
            return None
    return obj


def _path(loc: Sequence[int | str]) -> str:
    """A field's dotted name, safe to echo in an error: short, and no lone surrogates."""
    name = ".".join(str(part) for part in loc)
    return name[:100].encode("utf-8", "backslashreplace").decode("utf-8")


# -- documents -------------------------------------------------------------------------------


class Author(TypedDict):
    name: Annotated[str, Field(description="A bot's name; an editor's display name (else login name).")]
    kind: AuthorKind
    avatar: NotRequired[
        Annotated[
            str | None,
            Field(description="An editor's avatar: an https URL or a path on this site; null: none."),
        ]
    ]


class MediaSource(TypedDict):
    url: Annotated[str, Field(json_schema_extra={"format": "uri-reference"})]
    width: Annotated[int, Field(ge=1, description="Pixels: the `w` of this source in a srcset.")]


class MediaDoc(TypedDict):
    """An uploaded image: re-encoded as WebP without metadata, in a few widths (`srcset`, narrowest
    first); `url`, `width` and `height` are those of the widest."""

    id: Annotated[str, Field(pattern=MEDIA_ID_PATTERN)]
    url: Annotated[
        str, Field(json_schema_extra={"format": "uri-reference"}, description="A path on this site.")
    ]
    width: Annotated[int, Field(ge=1)]
    height: Annotated[int, Field(ge=1)]
    srcset: list[MediaSource]


# An image as served: hosted elsewhere or uploaded here.
ImageUrl = Annotated[
    str,
    Field(
        pattern="^(https://|/media/)",
        json_schema_extra={"format": "uri-reference"},
        description="An https URL, or the path of an uploaded image on this site (`/media/...`).",
    ),
]


class Image(TypedDict):
    url: ImageUrl
    alt: str
    caption: str
    credit: NotRequired[str]
    media: NotRequired[Annotated[str, Field(description="The upload's id, for an uploaded image.")]]
    width: NotRequired[int]
    height: NotRequired[int]
    srcset: NotRequired[list[MediaSource]]


_UPDATE_EXAMPLE: dict[str, Any] = {
    "id": "1650769560000-0",
    "blog": "russia-ukraine",
    "title": "Next stop: Kyiv",
    "body": "Mr Guterres will visit Kyiv on **April 28**.",
    "html": "<p>Mr Guterres will visit Kyiv on <strong>April 28</strong>.</p>\n",
    "image": None,
    "author": {"name": "wire-bot", "kind": "bot"},
    "key_event": True,
    "pinned": False,
    "published_at": "2022-04-24T03:06:00.000Z",
    "updated_at": "2022-04-24T03:06:00.000Z",
    "url": "/blogs/russia-ukraine/updates/1650769560000-0",
}


@with_config(ConfigDict(json_schema_extra={"examples": [_UPDATE_EXAMPLE]}))
class Update(TypedDict):
    """An update as stored and served (the store's Lua script puts `id`, `url` and the times first)."""

    id: Annotated[
        str, Field(pattern=STREAM_ID_PATTERN, description="The stream ID of the event that published it.")
    ]
    url: Annotated[str, Field(json_schema_extra={"format": "uri-reference"}, description="The permalink.")]
    published_at: Timestamp
    updated_at: Timestamp
    blog: Slug
    title: str | None
    body: Annotated[str, Field(description="Markdown source.")]
    html: Annotated[str, Field(description="Sanitized HTML rendered from `body`.")]
    image: Image | None
    author: Author
    key_event: bool
    pinned: bool


class Draft(TypedDict):
    """A validated update before it is published: the store adds `id` and `url`, and its times."""

    blog: str
    title: str | None
    body: str
    html: str
    image: Image | None
    author: Author
    key_event: bool
    pinned: bool
    published_at: str
    updated_at: str


class Cover(TypedDict):
    """A blog's cover image as stored and served: `width` and `height` are known for an upload."""

    url: ImageUrl
    alt: str
    media: NotRequired[Annotated[str, Field(description="The upload's id, for an uploaded image.")]]
    width: NotRequired[int]
    height: NotRequired[int]


class DeletedUpdate(TypedDict):
    id: StreamId


@with_config(
    ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "slug": "russia-ukraine",
                    "title": "Russia-Ukraine latest",
                    "description": "",
                    "status": "live",
                    "created_at": "2022-04-24T03:00:00.000Z",
                    "updated_at": "2022-04-24T03:26:00.000Z",
                    "ended_at": None,
                    "last_event_id": "1650769560000-0",
                    "url": "/blogs/russia-ukraine",
                    "cover": None,
                }
            ]
        }
    )
)
class Blog(TypedDict):
    slug: Slug
    title: str
    description: str
    status: Status
    created_at: Timestamp
    updated_at: Timestamp
    ended_at: Annotated[
        str | None,
        Field(
            json_schema_extra={"format": "date-time"},
            description="When the blog was ended (RFC 3339, UTC); null while it is live. An ended blog "
            "refuses new updates (409) until it is reopened; edits and deletes still work.",
        ),
    ]
    last_event_id: Annotated[
        str,
        Field(
            pattern=STREAM_ID_PATTERN,
            description="The blog's latest event (`0-0` before any); resume the stream from here.",
        ),
    ]
    url: Annotated[str, Field(json_schema_extra={"format": "uri-reference"}, description="The reader page.")]
    cover: Annotated[Cover | None, Field(description="The blog's cover image; null: none.")]
    lang: BlogLanguage
    dir: Annotated[
        Direction,
        Field(description="The text direction of `lang` (CLDR's); follows the language, not set apart."),
    ]


class BlogList(TypedDict):
    blogs: list[Blog]


class UpdateList(TypedDict):
    updates: Annotated[
        list[Update],
        Field(
            description="Newest first (oldest first with `order=oldest`); pinned updates are "
            "flagged, not moved. With `key_events=1`, key events only."
        ),
    ]
    next_before: Annotated[
        StreamId | None,
        Field(
            description="The oldest update of this page: pass as `before` for the older page; "
            "null when nothing is older (or the page is empty)."
        ),
    ]
    next_after: Annotated[
        StreamId | None,
        Field(
            description="The newest update of this page: pass as `after` for the newer page; "
            "null when nothing is newer (or the page is empty)."
        ),
    ]
    next: Annotated[
        str | None,
        Field(
            json_schema_extra={"format": "uri-reference"},
            description="The next page in this order (older when newest first, newer when oldest "
            "first), with the same `order`, `key_events` and `limit`; null on the last page.",
        ),
    ]
    prev: Annotated[
        str | None,
        Field(
            json_schema_extra={"format": "uri-reference"},
            description="The page before this one in this order; null on the first page.",
        ),
    ]
    last_event_id: Annotated[
        str,
        Field(
            pattern=STREAM_ID_PATTERN,
            description="The blog's latest event when this page was read; resume the stream here.",
        ),
    ]


class ScheduledUpdate(TypedDict):
    """An update waiting to be published (the 202 of the publish that scheduled it): its fields,
    without `id`, `url` and times, which it gets when published."""

    scheduled_id: Annotated[str, Field(description="Cancel it with DELETE .../scheduled/{id}.")]
    scheduled_at: Annotated[
        str,
        Field(json_schema_extra={"format": "date-time"}, description="When it is published; RFC 3339, UTC."),
    ]
    blog: Slug
    title: NotRequired[str | None]
    body: str
    html: str
    image: NotRequired[Image | None]
    author: Author
    key_event: NotRequired[bool]
    pinned: NotRequired[bool]


DRAFT_ID_PATTERN = "^[0-9a-f]{16}$"


class DraftUpdate(TypedDict):
    """A draft: on the desk and under `.../drafts` for the blog's writers only, never in the
    stream, the updates, the pages or the feeds until it is published (it then gets a new `id`, the
    stream ID of its `update.published`)."""

    id: Annotated[str, Field(pattern=DRAFT_ID_PATTERN)]
    blog: Slug
    title: str | None
    body: str
    html: str
    image: Image | None
    author: Annotated[Author, Field(description="Who wrote it: the published update's author.")]
    owner: Annotated[
        str,
        Field(
            description="`editor:LOGIN` or `bot:TOKEN-NAME` of who wrote it: a contributor changes only their own."
        ),
    ]
    key_event: bool
    created_at: Timestamp
    updated_at: Timestamp


class DraftList(TypedDict):
    drafts: Annotated[list[DraftUpdate], Field(description="The latest changed first.")]


class ScheduledList(TypedDict):
    scheduled: Annotated[list[ScheduledUpdate], Field(description="Soonest first.")]


class Webhook(TypedDict):
    """A registered webhook. Its `secret` (`whsec_...`, for
    `standardwebhooks.Webhook(secret).verify(body, headers)`) is returned once, at registration."""

    id: Annotated[str, Field(pattern="^wh_[0-9a-f]+$")]
    blog: Slug
    url: Annotated[str, Field(json_schema_extra={"format": "uri"})]
    events: Annotated[list[StoredEventType], Field(description="The event types sent; empty: every one.")]
    secret: NotRequired[Annotated[str, Field(pattern="^whsec_")]]
    created_at: Timestamp
    since: Annotated[
        str, Field(pattern=STREAM_ID_PATTERN, description="Events after this position are sent.")
    ]
    disabled: Annotated[str | None, Field(description="Why it was disabled, if it was.")]
    failing_since: NotRequired[float | None]


class WebhookList(TypedDict):
    webhooks: list[Webhook]


class Problem(TypedDict):
    """RFC 9457 problem details."""

    type: Annotated[str, Field(json_schema_extra={"format": "uri-reference"})]
    title: str
    status: Annotated[int, Field(ge=400, le=599)]
    detail: str


class Event(TypedDict):
    """One change to a blog: the JSON of an SSE `data:` line and of a WebSocket text frame."""

    id: StreamId
    type: EventType
    blog: Slug
    update: NotRequired[
        Annotated[
            Update | DeletedUpdate,
            Field(
                description="`update.published` and `update.edited`: the whole update; "
                "`update.deleted`: only its `id`."
            ),
        ]
    ]
    meta: NotRequired[
        Annotated[
            dict[str, Any],
            Field(
                description="`blog.updated`: the blog's new title, description, status, times and cover (an object or null)."
            ),
        ]
    ]
    last_event_id: NotRequired[
        Annotated[
            str,
            Field(
                pattern=STREAM_ID_PATTERN,
                description="`reset`: the position to resume from after reloading `GET .../updates`.",
            ),
        ]
    ]


# The named shapes of the OpenAPI document's `components/schemas`, in its order.
SCHEMAS: dict[str, Any] = {
    "StreamId": StreamId,
    "ScheduledUpdate": ScheduledUpdate,
    "ScheduledList": ScheduledList,
    "Blog": Blog,
    "BlogList": BlogList,
    "Webhook": Webhook,
    "WebhookList": WebhookList,
    "NewWebhook": NewWebhook,
    "NewBlog": NewBlog,
    "BlogPatch": BlogPatch,
    "Cover": Cover,
    "CoverInput": CoverInput,
    "MediaSource": MediaSource,
    "Media": MediaDoc,
    "Image": Image,
    "ImageInput": ImageInput,
    "Author": Author,
    "Update": Update,
    "UpdateList": UpdateList,
    "NewUpdate": NewUpdate,
    "UpdatePatch": UpdatePatch,
    "Problem": Problem,
    "Event": Event,
    "DraftUpdate": DraftUpdate,
    "DraftList": DraftList,
    "NewDraft": NewDraft,
    "DraftPatch": DraftPatch,
}
