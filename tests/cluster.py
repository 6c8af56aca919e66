"""A real Redis Cluster for tests: three masters with one replica each, from `redis-server` binaries.

Debian's Redis 7 by default (`.ci/run` installs it); `LIVEBLOG_TEST_CLUSTER_SERVER` names another
binary. Each node runs on a free port in a folder of its own, with the append-only file on and a
short `cluster-node-timeout`, so a failover takes a couple of seconds.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import socket
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

import redis
from redis.cluster import RedisCluster

CLUSTER_SERVER = os.environ.get("LIVEBLOG_TEST_CLUSTER_SERVER") or "/usr/bin/redis-server"
NODE_TIMEOUT_MS = 1500


def cluster_port() -> int:
    """A free port whose cluster bus port (10,000 above it, so at most 55,535) is free too."""
    while True:
        port = random.randint(20_000, 55_535)
        try:
            for candidate in (port, port + 10_000):
                with socket.socket() as sock:
                    sock.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        return port


def cluster_binaries() -> tuple[str, str] | None:
    """(redis-server, redis-cli) when both are installed, else None."""
    cli = str(Path(CLUSTER_SERVER).with_name("redis-cli"))
    if os.access(CLUSTER_SERVER, os.X_OK) and os.access(cli, os.X_OK):
        return CLUSTER_SERVER, cli
    found = shutil.which("redis-cli")
    return (CLUSTER_SERVER, found) if found and os.access(CLUSTER_SERVER, os.X_OK) else None


@dataclass
class Node:
    port: int
    directory: Path
    process: subprocess.Popen[bytes] | None = None

    def client(self) -> redis.Redis:
        return redis.Redis(port=self.port, socket_timeout=5)

    def info(self, section: str) -> dict[str, object]:
        with self.client() as client:
            return dict(client.info(section))


@dataclass
class Cluster:
    """Six redis-server processes joined into a cluster; `stop()` tears it down."""

    directory: Path
    masters: int = 3
    replicas: int = 1
    nodes: list[Node] = field(default_factory=list)

    @property
    def url(self) -> str:
        """A live node to seed a cluster client from (it learns the others)."""
        live = next(n for n in self.nodes if n.process is not None)
        return f"redis://127.0.0.1:{live.port}/0"

    def start(self) -> Cluster:
        """Start the nodes and join them into a cluster; after `stop()`, start the same nodes
        again on their ports and folders, where they find their data and the cluster's layout."""
        binaries = cluster_binaries()
        assert binaries is not None, f"{CLUSTER_SERVER} and redis-cli are needed"
        server, cli = binaries
        if self.nodes:
            for node in self.nodes:
                if node.process is None:
                    self._spawn(server, node)
            for node in self.nodes:
                _wait_for(lambda node=node: node.client().ping(), f"node {node.port} did not start")
            _wait_for(self._ready, "the cluster did not settle")
            return self
        try:
            for _ in range(self.masters * (1 + self.replicas)):
                node = Node(0, self.directory / f"node-{len(self.nodes)}")
                node.directory.mkdir(parents=True)
                self.nodes.append(node)
                self._spawn_on_a_free_port(server, node)
            subprocess.run(
                [cli, "--cluster", "create", *(f"127.0.0.1:{n.port}" for n in self.nodes),
                 "--cluster-replicas", str(self.replicas), "--cluster-yes"],
                check=True, capture_output=True, timeout=60,
            )  # fmt: skip
            _wait_for(self._ready, "the cluster did not settle")
        except BaseException:
            self.stop()  # no node outlives a start that failed
            raise
        return self

    def _spawn_on_a_free_port(self, server: str, node: Node) -> None:
        """Start `node` and wait until it answers; a port taken between the check and the bind
        (other tests pick ports too) makes redis-server exit: then another port."""
        for _ in range(5):
            node.port = cluster_port()
            self._spawn(server, node)
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                assert node.process is not None
                if node.process.poll() is not None:
                    break  # exited: the port was taken meanwhile
                try:
                    with node.client() as client:
                        if client.info("server").get("process_id") == node.process.pid:
                            return
                except (redis.RedisError, AttributeError, ValueError):
                    pass
                time.sleep(0.05)
            if node.process.poll() is None:
                node.process.kill()
            node.process.wait()
            node.process = None
        raise RuntimeError(f"no cluster node could start in {node.directory}")

    @staticmethod
    def _spawn(server: str, node: Node) -> None:
        node.process = subprocess.Popen(
            [server, "--port", str(node.port), "--bind", "127.0.0.1", "--dir", str(node.directory),
             "--cluster-enabled", "yes", "--cluster-config-file", "nodes.conf",
             "--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--appendonly", "yes",
             "--appendfsync", "always", "--save", "", "--repl-diskless-sync-delay", "0",
             "--repl-ping-replica-period", "1",
             "--maxclients", "20000"],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        )  # fmt: skip

    def _ready(self) -> bool:
        """Every node sees the cluster ok, every replica has finished its first sync (a replica
        that never synced does not take over), and every node's `CLUSTER SLOTS` lists every
        replica (Redis 7 leaves one out until the others have heard its replication offset, and
        clients learn the nodes from it)."""
        for node in self.nodes:
            with node.client() as client:
                if client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                    return False
                replication = client.info("replication")
                if replication["role"] == "slave" and replication.get("master_link_status") != "up":
                    return False
                slots = client.execute_command("CLUSTER SLOTS")
                if len(slots) != self.masters or any(len(s) - 3 < self.replicas for s in slots):
                    return False
        return len(self.master_nodes()) == self.masters

    def client(self) -> RedisCluster:
        return RedisCluster.from_url(self.url)

    def master_nodes(self) -> list[Node]:
        return [n for n in self.nodes if n.process is not None and _role(n) == "master"]

    def master_of(self, key: str) -> Node:
        """The node that holds `key`'s slot now."""
        with self.client() as client:
            port = client.get_node_from_key(key).port
        return next(n for n in self.nodes if n.port == port)

    def key_counts(self) -> dict[int, int]:
        """Keys per master, by port."""
        return {n.port: int(n.client().dbsize()) for n in self.master_nodes()}

    def kill(self, node: Node) -> None:
        """SIGKILL one node, as a crash would."""
        assert node.process is not None
        node.process.send_signal(signal.SIGKILL)
        node.process.wait()
        node.process = None

    def wait_for_master_of(self, key: str, not_port: int, timeout: float = 30.0) -> Node:
        """The node that took over `key`'s slot from the node on `not_port`."""

        def promoted() -> bool:
            live = [n for n in self.nodes if n.process is not None]
            try:
                with live[0].client() as client:
                    slot = client.execute_command("CLUSTER KEYSLOT", key)
                    for start, end, master, *_ in client.execute_command("CLUSTER SLOTS"):
                        if start <= slot <= end:
                            return int(master[1]) != not_port and self._ready_live()
            except redis.RedisError:
                return False
            return False

        _wait_for(promoted, f"no master took over {key!r}", timeout)
        return self.master_of(key)

    def _ready_live(self) -> bool:
        for node in self.nodes:
            if node.process is None:
                continue
            with node.client() as client:
                if client.execute_command("CLUSTER INFO").get("cluster_state") != "ok":
                    return False
        return True

    def stop(self) -> None:
        for node in self.nodes:
            if node.process is not None and node.process.poll() is None:
                node.process.kill()
                node.process.wait()
            node.process = None


def _role(node: Node) -> str:
    try:
        return str(node.info("replication")["role"])
    except redis.RedisError:
        return "down"


def _wait_for(check: object, message: str, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        try:
            if check():  # type: ignore[operator]
                return
        except redis.RedisError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(message)
        time.sleep(0.05)
