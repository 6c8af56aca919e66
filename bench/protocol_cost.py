"""What `liveblog.protocol`'s limits cost: server CPU per request and per connection.

Runs a one-line ASGI app under uvicorn (uvloop) twice, with uvicorn's own httptools protocol and
with `LimitedHttpToolsProtocol`, and reads the server process's CPU time from /proc around
keep-alive requests on one connection and around one-request connections.

    .venv/bin/python -m bench.protocol_cost
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

SERVER = """
import sys, uvicorn
from liveblog.protocol import LimitedHttpToolsProtocol

async def app(scope, receive, send):
    if scope["type"] != "http":
        return
    await send({"type": "http.response.start", "status": 200, "headers": [(b"content-length", b"3")]})
    await send({"type": "http.response.body", "body": b"ok\\n"})

http = LimitedHttpToolsProtocol if sys.argv[2] == "limited" else "httptools"
uvicorn.run(app, port=int(sys.argv[1]), loop="uvloop", http=http, lifespan="off",
            log_level="warning", access_log=False)
"""
REQUEST = b"GET / HTTP/1.1\r\nHost: bench\r\nUser-Agent: bench\r\nAccept: */*\r\n\r\n"
RESPONSE_END = b"ok\n"
TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK  # utime + stime


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def read_response(sock: socket.socket) -> None:
    data = b""
    while not data.endswith(RESPONSE_END):
        chunk = sock.recv(4096)
        if not chunk:
            raise ConnectionError("closed")
        data += chunk


def keep_alive(port: int, n: int) -> None:
    with socket.create_connection(("127.0.0.1", port)) as sock:
        for _ in range(n):
            sock.sendall(REQUEST)
            read_response(sock)


def one_per_connection(port: int, n: int) -> None:
    for _ in range(n):
        with socket.create_connection(("127.0.0.1", port)) as sock:
            sock.sendall(REQUEST)
            read_response(sock)


def measure(kind: str, requests: int, connections: int) -> tuple[float, float]:
    port = free_port()
    process = subprocess.Popen([sys.executable, "-c", SERVER, str(port), kind])
    try:
        for _ in range(200):
            try:
                one_per_connection(port, 1)
                break
            except OSError:
                time.sleep(0.05)
        keep_alive(port, 1000)  # warm-up
        before = cpu_seconds(process.pid)
        keep_alive(port, requests)
        middle = cpu_seconds(process.pid)
        one_per_connection(port, connections)
        after = cpu_seconds(process.pid)
        return (middle - before) / requests * 1e6, (after - middle) / connections * 1e6
    finally:
        process.terminate()
        process.wait()


def main() -> None:
    requests, connections = 20_000, 5_000
    results: dict[str, list[tuple[float, float]]] = {"httptools": [], "limited": []}
    for _ in range(5):
        for kind in results:
            results[kind].append(measure(kind, requests, connections))
    for kind, runs in results.items():
        per_request = min(r[0] for r in runs)
        per_connection = min(r[1] for r in runs)
        print(
            f"{kind:10} server CPU: {per_request:6.1f} µs per keep-alive request, "
            f"{per_connection:6.1f} µs per one-request connection (best of 5)"
        )


if __name__ == "__main__":
    main()
