"""/docs in a real Chromium: Swagger UI, from our own static files, renders the API's operations
from /openapi.json under the site's CSP (no inline script, nothing from another origin)."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

import httpx
import pytest
from playwright.async_api import Browser, Request, expect

from .browsing import needs_chromium, screenshot_path, watch
from .conftest import until

pytestmark = [pytest.mark.browser, pytest.mark.timeout(90), needs_chromium]

# Each CSP violation, as the page sees it (an init script is not bound by the page's policy).
RECORD_VIOLATIONS = """
window.__violations = [];
document.addEventListener("securitypolicyviolation", (event) => {
  window.__violations.push(`${event.violatedDirective} ${event.blockedURI}`);
});
"""


async def test_docs_renders_the_api_operations_with_no_error_and_no_csp_violation(
    browser: Browser, server, tmp_path: Path
):
    page = await browser.new_page()
    errors = watch(page)
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    await page.add_init_script(RECORD_VIOLATIONS)
    failed: list[Request] = []
    page.on("requestfailed", lambda request: failed.append(request))

    response = await page.goto(f"{server.url}/docs")
    assert response is not None and response.status == 200
    assert "script-src 'self'" in (await response.all_headers())["content-security-policy"]

    publish = page.locator(".opblock-post", has_text="/api/v1/blogs/{slug}/updates").first
    await expect(publish).to_be_visible(timeout=20_000)
    await expect(publish.locator(".opblock-summary-method")).to_have_text("POST")
    # More than one operation: the whole document was read, not a stub.
    await expect(page.locator(".opblock-get", has_text="/api/v1/blogs/{slug}/events").first).to_be_visible()
    await publish.locator(".opblock-summary").first.click()  # opening an operation renders its schema
    await expect(publish.locator(".opblock-body")).to_be_visible()

    assert await page.evaluate("window.__violations") == []
    assert errors == []
    assert [request.url for request in failed] == []
    origins = {urlsplit(url)._replace(path="", query="", fragment="").geturl() for url in requested}
    assert origins <= {server.url, "data:"}, origins  # nothing from another origin
    assert any("/vendor/swagger-ui/swagger-ui-bundle.js" in url for url in requested)

    # The recorder sees a violation when there is one, and the policy holds on /docs: an
    # inline script is refused.
    await page.evaluate(
        "document.body.append(Object.assign(document.createElement('script'), {textContent: 'window.ran = 1'}))"
    )

    async def refused() -> bool:
        return bool(await page.evaluate("window.__violations.length"))

    await until(refused, timeout=10)
    assert await page.evaluate("window.ran") is None
    await page.screenshot(path=screenshot_path("docs.png", tmp_path), full_page=False)
    await page.close()


async def test_docs_links_swagger_ui_under_versioned_urls_and_the_files_are_served(server):
    async with httpx.AsyncClient(base_url=server.url, timeout=10) as client:
        page = await client.get("/docs")
        assert page.status_code == 200 and page.headers["cache-control"] == "public, max-age=300"
        assert "<script>" not in page.text  # the start-up code is static/js/docs.js
        for name in (
            "vendor/swagger-ui/swagger-ui-bundle.js",
            "vendor/swagger-ui/swagger-ui.css",
            "css/docs.css",
            "js/docs.js",
        ):
            linked = [part.split('"')[0] for part in page.text.split('="/static/')[1:]]
            path = next(f"/static/{p}" for p in linked if p.endswith(name))
            served = await client.get(path)
            assert served.status_code == 200 and served.content, path
            assert served.headers["cache-control"] == "public, max-age=31536000, immutable"
