"""Where liveblog meets its libraries and itself: the private hooks it still relies on are where
they were checked, and its modules import one another without a cycle."""

from __future__ import annotations

import ast
import importlib
import importlib.metadata
import inspect
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import pytest
from sse_starlette import EventSourceResponse

from liveblog import connections, runner, sse
from liveblog.sse import SubscriptionResponse

ROOT = Path(__file__).resolve().parent.parent
PACKAGES = ("liveblog", "workers")


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(tree: ast.AST) -> Iterator[ast.Import | ast.ImportFrom]:
    """Every import statement, in functions too (they hide an arrow, not remove it), except those
    under `if TYPE_CHECKING:`, which run for the type checker only."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.If) and ast.unparse(node.test) in ("TYPE_CHECKING", "typing.TYPE_CHECKING"):
            continue
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node
        yield from _imports(node)


def import_graph() -> dict[str, set[str]]:
    """Module -> the modules of `PACKAGES` it imports (see `_imports`)."""
    modules = {_module_name(p): p for package in PACKAGES for p in (ROOT / package).rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(), str(path))
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        targets: set[str] = set()
        for node in _imports(tree):
            if isinstance(node, ast.Import):
                targets.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                base = node.module or ""
                if node.level:
                    base = ".".join([*package.split(".")[: len(package.split(".")) - node.level + 1], base])
                    base = base.rstrip(".")
                targets.add(base)
                targets.update(f"{base}.{alias.name}" for alias in node.names)
        graph[name] = {t for t in targets if t in modules and t != name}
    return graph


def cycle_in(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle of `graph` (its modules in import order), or None."""
    done: set[str] = set()

    def visit(node: str, path: list[str]) -> list[str] | None:
        if node in path:
            return path[path.index(node) :] + [node]
        if node in done:
            return None
        for target in sorted(graph[node]):
            found = visit(target, [*path, node])
            if found:
                return found
        done.add(node)
        return None

    for node in sorted(graph):
        found = visit(node, [])
        if found:
            return found
    return None


def test_the_modules_import_one_another_without_a_cycle():
    graph = import_graph()
    assert "liveblog.hub" in graph["liveblog.sse"]  # the walk sees relative imports
    assert cycle_in(graph) is None, " -> ".join(cycle_in(graph) or [])
    for name in graph:
        if not name.endswith("__main__"):  # that one runs the CLI
            importlib.import_module(name)


def test_liveblog_never_imports_workers_and_finds_them_by_their_entry_points():
    """DESIGN.md: workers/ imports liveblog, never the reverse (app and cli imported it)."""
    graph = import_graph()
    reverse = {name: sorted(t for t in targets if t.split(".")[0] == "workers")
               for name, targets in graph.items() if name.startswith("liveblog")}  # fmt: skip
    assert {name: t for name, t in reverse.items() if t} == {}
    assert sorted(runner.registered()) == ["feeds", "scheduler", "webhooks"]
    for name in runner.registered():
        assert inspect.iscoroutinefunction(runner.load(name))
    with pytest.raises(runner.UnknownWorker, match="no worker named 'mail'"):
        runner.load("mail")


def test_the_cycle_check_finds_a_cycle():
    """Regression: `app` imported `pages`, and `pages` imported `app` (for the CSP), inside a
    function."""
    graph = import_graph()
    tree = ast.parse("def _site_policy():\n    from .app import CONTENT_SECURITY_POLICY\n")
    assert [node.module for node in _imports(tree) if isinstance(node, ast.ImportFrom)] == ["app"]
    graph["liveblog.pages"].add("liveblog.app")
    cycle = cycle_in(graph)
    assert cycle is not None and cycle[0] == cycle[-1] == "liveblog.app" and "liveblog.pages" in cycle


def test_sse_starlette_still_sends_every_chunk_through_the_hook_sse_overrides():
    """liveblog.sse overrides `_send_with_timeout` (22-25 µs a send saved): checked on 3.7.0."""
    sse.check()  # what `liveblog serve` runs at its start
    hook = EventSourceResponse._send_with_timeout
    assert "await send(message)" in inspect.getsource(hook)
    assert SubscriptionResponse._send_with_timeout is not hook


async def test_every_sse_response_shares_one_encoded_head():
    """Per reader, only a list of pointers to the head's bytes: sse-starlette still builds the
    head through Starlette's `init_headers`, with the security headers, the same for each."""

    async def body() -> AsyncIterator[bytes]:
        yield b""

    responses = [
        EventSourceResponse.__new__(SubscriptionResponse) for _ in range(2)
    ]  # the head alone, without a subscription
    for response in responses:
        EventSourceResponse.__init__(response, body(), ping=0, sep="\n", headers=sse.HEADERS)
    first, second = (dict(r.raw_headers) for r in responses)
    assert first == second and first[b"content-security-policy"] and first[b"x-accel-buffering"] == b"no"
    assert first[b"content-type"] == b"text/event-stream; charset=utf-8"
    assert all(a is b for a, b in zip(responses[0].raw_headers, responses[1].raw_headers, strict=True))
    assert responses[0].raw_headers is not responses[1].raw_headers


def test_uvicorn_connections_still_hold_the_transport_that_readers_are_aborted_by():
    connections.check()  # what `liveblog serve` runs at its start
    assert importlib.metadata.version("uvicorn").startswith("0.54."), "check liveblog.connections again"
    for holder in connections.HOLDERS:
        assert inspect.iscoroutinefunction(holder.receive), holder


def test_a_receive_of_another_server_is_refused_loudly():
    async def receive() -> dict[str, str]:
        return {"type": "http.disconnect"}

    with pytest.raises(connections.NoAbort):
        connections.sink_of(receive)
