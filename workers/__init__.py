"""The background workers, one module of one concern each: `scheduler`, `webhooks`, `feeds`.

Each module has `async def run(ctx: liveblog.runner.Context) -> None` and is registered in
pyproject.toml's `liveblog.workers` entry points; `liveblog.runner` finds and runs them. Workers
import `liveblog` (the store, the publish path, the settings), never the reverse.
"""
