"""The wire format alone: stream IDs, SSE framing and the JSON each event carries."""

from __future__ import annotations

import json

import pytest

from liveblog import events
from liveblog.events import BadEventId, encode, format_id, parse_id, reset

pytestmark = pytest.mark.timeout(60)

UPDATE = {
    "id": "1650769560000-0",
    "blog": "russia-ukraine",
    "title": None,
    "body": "Kyiv",
    "html": "<p>Kyiv</p>",
}


@pytest.mark.parametrize(
    ("value", "key"),
    [
        ("1-0", (1, 0)),
        ("123", (123, 0)),
        ("1650769560000-3", (1650769560000, 3)),
        ("0-0", (0, 0)),
        (" 1650769560000-0 ", (1650769560000, 0)),  # EventSource headers may carry stray spaces
        (f"{2**64 - 1}-{2**64 - 1}", (2**64 - 1, 2**64 - 1)),
    ],
)
def test_parse_id_accepts_stream_ids(value, key):
    assert parse_id(value) == key


@pytest.mark.parametrize(
    "value",
    [
        "",
        "yesterday",
        "-1",
        "-1-0",
        "1--1",
        "1-",
        "-0",
        "1-2-3",
        "1.5",
        "0x10",
        "1 -0",
        "<script>",
        "$",
        "+",
        "*",
        f"{2**64}-0",
        f"0-{2**64}",
        "9" * 21,
        "1" * 10_000,
    ],
)
def test_parse_id_rejects_garbage_negative_and_huge(value):
    with pytest.raises(BadEventId):
        parse_id(value)


def test_bad_event_id_is_a_value_error_with_a_bounded_message():
    with pytest.raises(ValueError) as caught:
        parse_id("x" * 10_000)
    assert len(str(caught.value)) < 200


@pytest.mark.parametrize("key", [(0, 0), (1, 0), (1650769560000, 7), (2**64 - 1, 2**64 - 1)])
def test_format_id_round_trips(key):
    assert parse_id(format_id(key)) == key
    assert format_id(key) == f"{key[0]}-{key[1]}"


def _sse_fields(frame: bytes) -> list[tuple[str, str]]:
    text = frame.decode()
    assert text.endswith("\n\n") and not text.endswith("\n\n\n")
    lines = text[:-2].split("\n")
    return [(name, value) for name, _, value in (line.partition(": ") for line in lines)]


@pytest.mark.parametrize("event_type", ["update.published", "update.edited"])
def test_encode_frames_one_sse_event_with_one_line_of_json(event_type):
    data = json.dumps(UPDATE)
    event = encode("russia-ukraine", "1650769560000-0", event_type, data)

    fields = _sse_fields(event.sse)
    assert [name for name, _ in fields] == ["id", "event", "data"]
    assert fields[0][1] == "1650769560000-0"
    assert fields[1][1] == event_type
    assert event.sse == f"id: 1650769560000-0\nevent: {event_type}\ndata: {event.payload}\n\n".encode()

    decoded = json.loads(fields[2][1])
    assert decoded == {
        "id": "1650769560000-0",
        "type": event_type,
        "blog": "russia-ukraine",
        "update": UPDATE,
    }
    assert json.loads(event.payload) == decoded
    assert fields[2][1] == event.payload
    assert (event.id, event.key, event.type) == ("1650769560000-0", (1650769560000, 0), event_type)


def test_encode_keeps_multiline_text_on_one_data_line():
    """A body with newlines (and a line that looks like an SSE field) stays inside one `data:` line."""
    update = {
        **UPDATE,
        "body": "line one\n\ndata: forged\nevent: reset\r\nid: 9-9",
        "html": "<p>a</p>\n<p>b</p>",
    }
    event = encode("b", "5-1", "update.edited", json.dumps(update))
    assert event.sse.count(b"\n") == 4
    (data_line,) = [line for line in event.sse.decode().split("\n") if line.startswith("data: ")]
    assert json.loads(data_line.removeprefix("data: "))["update"] == update


def test_encode_accepts_the_compact_json_the_store_writes():
    data = json.dumps(UPDATE, separators=(",", ":"), ensure_ascii=False)
    event = encode("b", "1-0", "update.published", data)
    assert json.loads(event.payload)["update"] == UPDATE


def test_update_deleted_carries_only_the_id():
    event = encode("russia-ukraine", "1650769570000-0", "update.deleted", '{"id":"1650769560000-0"}')
    decoded = json.loads(event.payload)
    assert decoded == {
        "id": "1650769570000-0",
        "type": "update.deleted",
        "blog": "russia-ukraine",
        "update": {"id": "1650769560000-0"},
    }


def test_blog_updated_puts_data_under_meta():
    meta = {"slug": "russia-ukraine", "title": "Latest", "status": "ended"}
    event = encode("russia-ukraine", "7-0", "blog.updated", json.dumps(meta))
    decoded = json.loads(event.payload)
    assert decoded == {"id": "7-0", "type": "blog.updated", "blog": "russia-ukraine", "meta": meta}
    assert "update" not in decoded
    assert _sse_fields(event.sse)[1] == ("event", "blog.updated")


def test_encode_escapes_the_blog_name_as_json():
    event = encode('quote"slug', "1-0", "update.published", "{}")
    assert json.loads(event.payload)["blog"] == 'quote"slug'


def test_reset_tells_the_client_where_to_resume():
    event = reset("russia-ukraine", (1650769560000, 2))
    assert (event.id, event.key, event.type) == ("1650769560000-2", (1650769560000, 2), "reset")
    decoded = json.loads(event.payload)
    assert decoded == {
        "id": "1650769560000-2",
        "type": "reset",
        "blog": "russia-ukraine",
        "last_event_id": "1650769560000-2",
    }
    assert event.sse == f"id: 1650769560000-2\nevent: reset\ndata: {event.payload}\n\n".encode()
    assert "\n" not in event.payload


def test_every_event_type_is_known_and_the_helpers_frame_correctly():
    assert set(events.EVENT_TYPES) == {
        "update.published",
        "update.edited",
        "update.deleted",
        "blog.updated",
        "reset",
    }
    assert events.sse_retry(2000) == b"retry: 2000\n\n"


def test_an_event_names_its_update_and_is_erased_in_place():
    """Erasing (when its update is edited or deleted) empties the one shared object, so every
    queue holding it loses the text; its position stays."""
    published = encode("b", "1-0", "update.published", '{"id":"1-0","body":"CONFIDENTIAL"}')
    edited = encode("b", "2-0", "update.edited", '{"title":null,"id":"1-0"}')  # not first: parsed
    meta = encode("b", "3-0", "blog.updated", '{"id":"x"}')
    assert (published.update_id, edited.update_id, meta.update_id) == ("1-0", "1-0", None)
    queued = [published]
    published.erase()
    assert queued[0].erased and queued[0].sse == b"" and queued[0].payload == ""
    assert queued[0].key == (1, 0)
