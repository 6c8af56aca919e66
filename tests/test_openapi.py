"""The OpenAPI document: served, and in step with the app's real routes and the documented errors."""

from __future__ import annotations

import json
import re
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from starlette.routing import BaseRoute, Mount, Route, WebSocketRoute

from liveblog import events, models, openapi, webhooks
from liveblog.app import create_app
from liveblog.errors import Invalid, PayloadTooLarge

pytestmark = pytest.mark.timeout(60)

METHODS = openapi.METHODS
NOT_IN_THE_API = ("/static", "/healthz", "/readyz", "/metrics")


def _normalise(path: str) -> str:
    """`/blogs/{slug}/updates/{update_id:str}` and `/blogs/{slug}/updates/{id}` are the same path."""
    return re.sub(r"\{[^}]*\}", "{}", path)


def _walk(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, str]]:
    """(path, method) of every endpoint, descending into mounts; a WebSocket counts as GET."""
    for route in routes:
        if isinstance(route, Mount):
            yield from _walk(list(route.routes), prefix + route.path)
        elif isinstance(route, WebSocketRoute):
            yield prefix + route.path, "get"
        elif isinstance(route, Route):
            for method in route.methods or {"GET"}:
                if method != "HEAD":
                    yield prefix + route.path, method.lower()
        else:
            raise AssertionError(f"a route of an unexpected kind: {route!r}")


def _api_routes() -> set[tuple[str, str]]:
    found = set()
    for path, method in _walk(list(create_app().routes)):
        if path.startswith(NOT_IN_THE_API):
            continue
        if not (path.startswith("/api/") or path == "/openapi.json"):
            continue  # HTML pages for people: `/`, `/blogs/{slug}`, ...
        found.add((_normalise(path), method))
    return found


def _documented() -> set[tuple[str, str]]:
    return {
        (_normalise(path), method)
        for path, item in openapi.spec()["paths"].items()
        for method in item
        if method in METHODS
    }


def _operations() -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in openapi.spec()["paths"].items():
        for method, operation in item.items():
            if method in METHODS:
                yield path, method, operation


async def test_openapi_json_is_served(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        response = await client.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    document = response.json()
    assert document["openapi"] == "3.1.0"
    assert document == json.loads(json.dumps(openapi.spec()))
    assert document["info"]["title"] and document["info"]["version"]


def test_the_walk_sees_the_mounted_api_and_the_websocket():
    """Guard for the two tests below: the route walk must reach into Mount("/api/v1")."""
    routes = _api_routes()
    assert ("/api/v1/blogs/{}/updates", "post") in routes
    assert ("/api/v1/blogs/{}/ws", "get") in routes
    assert ("/api/v1/blogs/{}/updates/{}", "delete") in routes
    assert ("/openapi.json", "get") in routes
    assert not any(method == "head" for _, method in routes)
    assert not any(path.startswith(("/static", "/healthz", "/blogs")) for path, _ in routes)


def test_every_route_of_the_api_is_documented():
    missing = _api_routes() - _documented()
    assert not missing, f"routes missing from openapi.py: {sorted(missing)}"


def test_every_documented_operation_is_a_real_route():
    phantom = _documented() - _api_routes()
    assert not phantom, f"documented but not routed: {sorted(phantom)}"


def test_path_parameters_are_declared_and_required():
    spec = openapi.spec()
    for path, item in spec["paths"].items():
        names = set(re.findall(r"\{([^}]+)\}", path))
        for method, operation in item.items():
            if method not in METHODS:
                continue
            # On the operation itself: Swagger UI (/docs) loses a path item's `$ref` parameters
            # (swagger-api/swagger-ui#4327), so the document repeats them on each operation.
            assert "parameters" not in item, path
            declared = {}
            for parameter in operation.get("parameters", []):
                parameter = _resolve(spec, parameter)
                if parameter["in"] == "path":
                    declared[parameter["name"]] = parameter
            assert set(declared) == names, (path, method)
            assert all(p.get("required") is True for p in declared.values()), (path, method)


def _resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        ref = node["$ref"]
        assert ref.startswith("#/"), ref
        target: Any = spec
        for part in ref[2:].split("/"):
            assert part in target, f"dangling $ref {ref}"
            target = target[part]
        node = target
    return node


def _refs(node: Any) -> Iterator[str]:
    if isinstance(node, dict):
        if isinstance(node.get("$ref"), str):
            yield node["$ref"]
        for value in node.values():
            yield from _refs(value)
    elif isinstance(node, list):
        for value in node:
            yield from _refs(value)


def test_every_ref_resolves():
    spec = openapi.spec()
    refs = set(_refs(spec))
    assert refs
    for ref in refs:
        _resolve(spec, {"$ref": ref})


def test_operation_ids_are_unique_and_every_operation_has_responses():
    ids = [operation["operationId"] for _, _, operation in _operations()]
    assert len(ids) == len(set(ids))
    for path, method, operation in _operations():
        assert operation.get("responses"), (path, method)
        assert any(status.startswith(("1", "2")) for status in operation["responses"]), (path, method)


def _expected_errors(path: str, method: str, operation: dict[str, Any]) -> set[str]:
    """The errors DESIGN.md promises for this operation."""
    if path == "/openapi.json" or path.endswith("/ws"):
        return set()  # no store behind the first; the second reports through close codes
    expected = {"503"}  # every API call reaches the store
    if "{slug}" in path and not (path == "/api/v1/blogs" and method == "post"):
        expected.add("404")
    if operation.get("security"):
        expected |= {"401", "403"}
        if method != "get":  # the rate limit counts writes only (GET .../scheduled is a writer's read)
            expected.add("429")
    if "requestBody" in operation:
        expected |= {"400", "413", "415", "422"}
    if path.endswith("/updates") and method == "get":
        expected |= {"400", "422"}  # a malformed `before`, a `limit` out of range
    if path.endswith("/events"):
        expected.add("400")  # a malformed Last-Event-ID
    if method == "post" and not path.endswith("/media"):  # an upload has neither
        expected.add("409")  # an existing slug; an Idempotency-Key reused with another body
    return expected


def test_each_operation_documents_the_errors_it_can_return():
    missing = {}
    for path, method, operation in _operations():
        absent = _expected_errors(path, method, operation) - set(operation["responses"])
        if absent:
            missing[f"{method.upper()} {path}"] = sorted(absent)
    assert not missing, missing


def test_error_responses_are_problem_documents_with_retry_after_where_due():
    spec = openapi.spec()
    for path, method, operation in _operations():
        for status, response in operation["responses"].items():
            if not status.startswith(("4", "5")):
                continue
            response = _resolve(spec, response)
            assert "application/problem+json" in response["content"], (path, method, status)
            problem = _resolve(spec, response["content"]["application/problem+json"]["schema"])
            assert {"type", "title", "status", "detail"} <= set(problem["properties"])
            if status in ("429", "503"):
                assert "Retry-After" in response.get("headers", {}), (path, method, status)


# -- one source (issue 14): the document states the shapes the server validates with --------------

# A valid request of each shape, and where a string is built to a length (URLs keep their prefix).
VALID = {
    "NewUpdate": {"body": "x"},
    "UpdatePatch": {},
    "NewBlog": {"slug": "s", "title": "t"},
    "BlogPatch": {"title": "t"},
    "NewWebhook": {"url": "https://example.com/"},
    "ImageInput": {"url": "https://example.com/a.png", "alt": ""},
}


def _string_of(length: int, prefix: str) -> str:
    return prefix + "a" * (length - len(prefix))


@pytest.mark.parametrize("name", sorted(VALID))
def test_every_length_in_a_request_schema_is_the_one_validation_enforces(name):
    """Each `maxLength` of a request shape in the document: a value of that length is accepted, one
    character more is refused naming the field (413 for the Markdown body: bytes are the real limit)."""
    schema = openapi.spec()["components"]["schemas"][name]
    model = getattr(models, name)
    limited = {}
    for field_name, prop in schema["properties"].items():
        string = next((p for p in [prop, *prop.get("anyOf", [])] if "maxLength" in p), None)
        if string is not None:
            limited[field_name] = (string["maxLength"], "https://" if "uri" == string.get("format") else "")
    assert limited, name
    for field_name, (limit, prefix) in limited.items():
        models.validate(model, {**VALID[name], field_name: _string_of(limit, prefix)})
        with pytest.raises((Invalid, PayloadTooLarge)) as refused:
            models.validate(model, {**VALID[name], field_name: _string_of(limit + 1, prefix)})
        # The field and the limit, in our words (not pydantic's "String should have at most ...").
        if isinstance(refused.value, PayloadTooLarge):
            assert refused.value.detail == f"{field_name}: Markdown over {limit} bytes"
        else:
            assert refused.value.detail == f"{field_name}: must be at most {limit} characters"


async def test_the_served_limits_are_the_enforced_ones(server, api, blog):
    """The served document's limits come from models.py, and the server holds them: at the limit a
    request passes, one over it is refused naming the field (413 for bytes of Markdown, else 422)."""
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        schemas = (await client.get("/openapi.json")).json()["components"]["schemas"]
    body = schemas["NewUpdate"]["properties"]["body"]
    title = schemas["NewUpdate"]["properties"]["title"]["anyOf"][0]
    assert (
        body["maxLength"] == models.MAX_BODY_BYTES and f"{models.MAX_BODY_BYTES} bytes" in body["description"]
    )
    assert title["maxLength"] == models.MAX_TITLE
    assert schemas["NewBlog"]["properties"]["slug"]["pattern"] == models.SLUG_PATTERN
    assert schemas["Event"]["properties"]["type"]["enum"] == list(events.EVENT_TYPES)
    assert schemas["NewWebhook"]["properties"]["events"]["items"]["enum"] == list(events.STORED_EVENT_TYPES)
    assert webhooks.EVENT_TYPES is events.STORED_EVENT_TYPES

    path = f"/api/v1/blogs/{blog}/updates"
    two_byte = "é" * (body["maxLength"] // 2)  # the limit in bytes of UTF-8, half as many characters
    assert (await api.post(path, json={"body": two_byte})).status_code == 201
    over = await api.post(path, json={"body": two_byte + "a"})
    assert over.status_code == 413 and over.json()["detail"].startswith("body:"), over.text
    at_limit = await api.post(path, json={"body": "x", "title": "t" * title["maxLength"]})
    assert at_limit.status_code == 201, at_limit.text
    over = await api.post(path, json={"body": "x", "title": "t" * (title["maxLength"] + 1)})
    assert over.status_code == 422 and over.json()["detail"].startswith("title:"), over.text
    longest = uuid.uuid4().hex + "-" * 30 + uuid.uuid4().hex[:2]  # 64 characters, the pattern's most
    assert (await api.post("/api/v1/blogs", json={"slug": longest, "title": "T"})).status_code == 201
    over = await api.post("/api/v1/blogs", json={"slug": longest + "a", "title": "T"})
    assert over.status_code == 422 and over.json()["detail"].startswith("slug:"), over.text
