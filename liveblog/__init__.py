"""liveblog: live-updates blogs, published into Redis streams, fanned out over SSE and WebSocket."""

__version__ = "0.1.0"
