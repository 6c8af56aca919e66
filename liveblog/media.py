"""Uploaded images: sniffed, bounded, verified, decoded and re-encoded with Pillow; no web framework.

An upload is never served as it came. Its format is sniffed from its bytes (JPEG, PNG, WebP or GIF;
the client's content type and file name are never read); its pixel count is checked right after
the header is read, before any decoding (a decompression bomb is 413); an animation (GIF, APNG,
WebP) of more than `MAX_UPLOAD_FRAMES` frames is refused (422), and one within keeps its first frame
(no animation is served: no frame-by-frame decoding on the server). Then Pillow's
`verify()`, a full decode, the EXIF orientation applied, and each width of `WIDTHS` (and the image's
own width when smaller) encoded afresh as WebP with no metadata at all: no EXIF (so no GPS), no XMP,
no ICC profile (the pixels are kept as they are, read as sRGB). Whatever was appended to or hidden
in the file (a script, an archive) is not in what is served.

The id is a hash of the uploaded bytes, so the same file uploaded twice is one upload.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from typing import Any

import anyio.to_thread
from PIL import Image, ImageOps, UnidentifiedImageError

from .errors import Invalid, PayloadTooLarge
from .models import MAX_UPLOAD_FRAMES, MAX_UPLOAD_PIXELS, MediaDoc, MediaSource
from .store import Store

FORMATS = ("JPEG", "PNG", "WEBP", "GIF")  # what Image.open may sniff: nothing else is tried
WIDTHS = (480, 960, 1600)  # the srcset's widths; an image narrower than one is kept at its own
EXTENSION, CONTENT_TYPE = "webp", "image/webp"
QUALITY = 82
ID_CHARS = 32  # hex characters of the SHA-256 of the upload: the id
# Whose uploads users' avatars are: stored and served like a blog's (`lb:{_people}:media:ID`,
# `/media/_people/...`), under a name no blog can have (a slug starts with a letter or digit).
AVATARS = "_people"
# Uploads processed at once per process: a 50 MP photo takes ~200 MB while it is decoded and
# resized (Pillow releases the GIL meanwhile, so two use both cores); more wait their turn.
UPLOAD_THREADS = 2


def media_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:ID_CHARS]


def path(slug: str, media: str, width: int) -> str:
    """Where one width of an upload is served (`uploads.serve`): the one place it is built."""
    return f"/media/{slug}/{media}-{width}.{EXTENSION}"


@dataclass(frozen=True, slots=True)
class Processed:
    id: str
    width: int  # of the largest variant, the one `url` names
    height: int
    variants: dict[int, bytes]  # width -> WebP bytes, narrowest first

    def document(self, slug: str) -> MediaDoc:
        """The upload as the API returns it and an update's image refers to it."""
        srcset: list[MediaSource] = [{"url": path(slug, self.id, w), "width": w} for w in self.variants]
        return {
            "id": self.id,
            "url": path(slug, self.id, self.width),
            "width": self.width,
            "height": self.height,
            "srcset": srcset,
        }


_UNREADABLE = "not a JPEG, PNG, WebP or GIF image that can be read"


def process(data: bytes) -> Processed:
    """The upload's variants, or Invalid (422) / PayloadTooLarge (413) saying why not. CPU-bound
    (up to a second or two for a large photo): call it off the event loop."""
    try:
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            _check_bounds(image)
            image.verify()  # the whole file's structure and checksums, before decoding it
        with Image.open(io.BytesIO(data), formats=FORMATS) as image:
            image.seek(0)
            upright = ImageOps.exif_transpose(image)  # decodes the first frame
    except Image.DecompressionBombError:  # over Pillow's own bound, met before ours
        raise PayloadTooLarge(f"file: an image of over {MAX_UPLOAD_PIXELS} pixels") from None
    except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError) as exc:
        raise Invalid("file", f"{_UNREADABLE} ({type(exc).__name__})") from None
    has_alpha = upright.mode in ("RGBA", "LA", "PA") or "transparency" in upright.info
    frame = upright.convert("RGBA" if has_alpha else "RGB")
    variants: dict[int, bytes] = {}
    for width in sorted({w for w in WIDTHS if w < frame.width} | {min(frame.width, WIDTHS[-1])}):
        height = max(1, round(frame.height * width / frame.width))
        sized = frame if width == frame.width else frame.resize((width, height), Image.Resampling.LANCZOS)
        variants[width] = _encode(sized)
        last = (width, height)
    return Processed(media_id(data), last[0], last[1], variants)


def _check_bounds(image: Any) -> None:
    width, height = image.size
    if width < 1 or height < 1:
        raise Invalid("file", _UNREADABLE)
    if width * height > MAX_UPLOAD_PIXELS:
        raise PayloadTooLarge(f"file: {width}x{height} is over {MAX_UPLOAD_PIXELS} pixels")
    if getattr(image, "n_frames", 1) > MAX_UPLOAD_FRAMES:  # counted from frame headers, not decoded
        raise Invalid("file", f"over {MAX_UPLOAD_FRAMES} frames")


def _encode(image: Image.Image) -> bytes:
    out = io.BytesIO()
    # WebP's encoder writes only the metadata it is handed (exif=, icc_profile=, xmp=): none.
    image.save(out, "WEBP", quality=QUALITY, method=4)
    return out.getvalue()


async def upload(store: Store, slug: str, data: bytes, limiter: anyio.CapacityLimiter) -> MediaDoc:
    """Process an upload off the event loop (on one of `limiter`'s threads) and store it under the
    blog; its document. Nothing is stored when it is refused."""
    processed = await anyio.to_thread.run_sync(process, data, limiter=limiter)
    document = processed.document(slug)
    await store.put_media(slug, document, processed.variants)
    return document
