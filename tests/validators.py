"""Helpers for tests/test_accessibility.py: axe-core in a Playwright page, the Nu HTML Checker on
fetched HTML. Both come from the npm packages pinned in package.json (`make test` installs them
into node_modules/); the checker runs on the system's Java 11+. Nothing is downloaded at test time.

axe-core is evaluated in the page through the DevTools protocol (`page.evaluate`), which the
page's Content-Security-Policy does not govern: the page keeps its real CSP (no `bypass_csp`),
so the checks see what a reader's browser runs. `add_script_tag` would add an inline <script>,
which the CSP refuses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import pytest
from playwright.async_api import Page

ROOT = Path(__file__).resolve().parent.parent
AXE = ROOT / "node_modules" / "axe-core" / "axe.min.js"
VNU = ROOT / "node_modules" / "vnu-jar" / "build" / "dist" / "vnu.jar"
JAVA = os.environ.get("LIVEBLOG_JAVA", "java")

# Skipped only off CI: there `.ci/run` installs npm and a JRE and `make test` runs `npm ci`, and a
# missing tool must fail.
needs_axe = pytest.mark.skipif(
    not AXE.is_file() and not os.environ.get("CI"),
    reason="node_modules/axe-core is not installed (make test runs npm ci)",
)
needs_vnu = pytest.mark.skipif(
    not (VNU.is_file() and shutil.which(JAVA)) and not os.environ.get("CI"),
    reason="node_modules/vnu-jar or java is missing (.ci/run installs a JRE, make test runs npm ci)",
)

# What axe checks: every rule of its default run (WCAG 2.0-2.2 A and AA, and its best practices).
AXE_OPTIONS: dict[str, Any] = {"resultTypes": ["violations"]}


async def axe_violations(page: Page, options: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    """axe-core's violations on `page` as it is now (axe is added to the page the first time)."""
    if not await page.evaluate("typeof window.axe === 'object'"):
        # A statement list, not a function: evaluated as a script in the page's main world.
        await page.evaluate(AXE.read_text(encoding="utf-8") + "\n;void 0;")
    result: dict[str, Any] = await page.evaluate(
        "options => window.axe.run(document, options)", options or AXE_OPTIONS
    )
    violations: list[dict[str, Any]] = result["violations"]
    return violations


def describe_violations(violations: list[dict[str, Any]]) -> str:
    """One line per rule and element, for an assertion's message."""
    lines = []
    for rule in violations:
        for node in rule["nodes"]:
            summary = (node.get("failureSummary") or "").replace("\n", " ")
            lines.append(f"{rule['id']} ({rule['impact']}): {' '.join(map(str, node['target']))}: {summary}")
    return "\n".join(lines)


def vnu_errors(pages: dict[str, str], directory: Path) -> dict[str, list[str]]:
    """The Nu HTML Checker's errors for each of `pages` (name -> HTML), in one run of the jar.

    Every page gets an entry (an empty list when it is valid); warnings and info are not errors.
    A file the checker could not read ("non-document-error") counts as an error of that page.
    """
    files = {}
    for i, (name, html) in enumerate(pages.items()):
        path = directory / f"page-{i}.html"
        path.write_text(html, encoding="utf-8")
        files[str(path.resolve())] = name
    run = subprocess.run(
        [JAVA, "-jar", str(VNU), "--format", "json", "--stdout", "--exit-zero-always", *map(str, files)],
        capture_output=True,
        text=True,
        timeout=180,
        check=True,
    )
    errors: dict[str, list[str]] = {name: [] for name in pages}
    for message in json.loads(run.stdout)["messages"]:
        if message["type"] not in ("error", "non-document-error"):
            continue
        name = files.get(unquote(urlparse(message.get("url", "")).path), "?")  # file:/tmp/...
        where = f"line {message.get('lastLine', '?')}"
        text = f"{where}: {message['message']} [{message.get('extract', '').strip()}]"
        errors.setdefault(name, []).append(text)
    return errors
