"""Helpers for the browser tests: Debian's Chromium driven by Playwright."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from playwright.async_api import Browser, BrowserContext, ConsoleMessage, Page, expect

CHROMIUM = os.environ.get("LIVEBLOG_CHROMIUM", "/usr/bin/chromium")
# No background networking: this machine has no network beyond loopback.
FLAGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# Skipped only off CI: there `.ci/run` installs chromium, and a missing one must fail.
needs_chromium = pytest.mark.skipif(
    not shutil.which(CHROMIUM) and not os.environ.get("CI"),
    reason="Debian's chromium is not installed (.ci/run installs it)",
)

DOCS = Path(__file__).resolve().parent.parent / "docs"


def screenshot_path(name: str, tmp_path: Path) -> Path:
    """Where a test saves its picture: docs/NAME (the README's) when LIVEBLOG_SCREENSHOTS=1, else a
    file of the test's own, so a test run leaves the checkout as it was."""
    return DOCS / name if os.environ.get("LIVEBLOG_SCREENSHOTS") == "1" else tmp_path / name


def watch(page: Page) -> list[str]:
    """Console errors and uncaught exceptions of `page`, as they come."""
    errors: list[str] = []

    def on_console(message: ConsoleMessage) -> None:
        if message.type == "error":
            errors.append(message.text)

    page.on("console", on_console)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    return errors


async def open_reader(opener: Browser | BrowserContext, url: str) -> tuple[Page, list[str]]:
    """Open a reader page (in a browser or a context) and wait until it is live."""
    page = await opener.new_page()
    errors = watch(page)
    await page.goto(url)
    await expect(page.locator("#live-status")).to_have_text("live")
    return page, errors


async def log_in_at(page: Page, url: str, name: str, password: str) -> None:
    """Open `url` (a desk page) in `page`, log in there as `name`, and wait to be back at `url`
    with the desk's scripts run: module scripts run before DOMContentLoaded. Its status ("live")
    is in the HTML already, so waiting for it does not wait for them: a click on Publish could be
    the form's plain POST, without the script's checks (seen once in CI, under load)."""
    await page.goto(url)
    await page.fill("form#login [name=username]", name)
    await page.fill("form#login [name=password]", password)
    await page.click("form#login button[type=submit]")
    await expect(page).to_have_url(url)
    await page.wait_for_load_state("domcontentloaded")
