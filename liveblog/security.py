"""The Content-Security-Policy and the other security headers every HTTP response carries."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .embeds import FRAME_ORIGINS

# frame-src: the embed iframes of the known services, which static/js/embeds.js inserts when a
# reader asks for one, and nothing else.
CONTENT_SECURITY_POLICY = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' https: data:; "
    f"connect-src 'self'; frame-src {' '.join(FRAME_ORIGINS)}; "
    "frame-ancestors 'self'; base-uri 'self'; form-action 'self'; object-src 'none'"
)
HEADERS: dict[str, str] = {
    "content-security-policy": CONTENT_SECURITY_POLICY,
    "x-content-type-options": "nosniff",
    "referrer-policy": "strict-origin-when-cross-origin",
}
_RAW_HEADERS = [(name.encode(), value.encode()) for name, value in HEADERS.items()]
# A response that says nothing about caching is stored nowhere: each kind says its own
# (caching.py's docstring lists them); this only catches what no one decided (a 303, say).
_FALLBACK = [(b"cache-control", b"no-store")]


def frame_ancestors_policy(policy: str, ancestors: str) -> str:
    """`policy` with its `frame-ancestors` directive replaced by (or given) `ancestors`."""
    directives = [d.strip() for d in policy.split(";") if d.strip()]
    kept = [d for d in directives if d.split()[0].lower() != "frame-ancestors"]
    return "; ".join([*kept, f"frame-ancestors {ancestors}"])


class SecurityHeaders:
    """Adds the security headers to every HTTP response's head, and `Cache-Control: no-store` to
    one without a Cache-Control; a response's own policy wins.

    The readers' streams do not pass through here (see `dispatch`): their responses carry
    `HEADERS` themselves, so no wrapper runs for each event they send.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = list(message.get("headers", []))
                present = {name.lower() for name, _ in headers}
                headers += [header for header in _RAW_HEADERS if header[0] not in present]
                headers += [header for header in _FALLBACK if header[0] not in present]
                message["headers"] = headers
            await send(message)

        await self.app(scope, receive, send_with_headers)
