"""The one place that makes Redis clients: a single Redis, or a Redis Cluster.

With `LIVEBLOG_REDIS_CLUSTER=1`, `LIVEBLOG_REDIS_URL` names one node of a Redis Cluster and every
part (the store, the hub's blocking readers, the CLI) gets redis-py's cluster client, seeded from
that node: it learns the others, sends each command to the master that owns its key's slot and
follows `MOVED`/`ASK` and topology changes. The store's key layout keeps every command and script
within one slot (see `store`), so the two clients are used the same way.
"""

from __future__ import annotations

from typing import Any, TypeAlias

import redis
import redis.asyncio as aioredis
from redis.asyncio.cluster import RedisCluster as AsyncRedisCluster
from redis.cluster import RedisCluster
from redis.exceptions import RedisClusterException, RedisError

# The reader's `XREAD BLOCK` waits this long for an event: its client's socket timeout is longer.
BLOCK_MS = 10_000
TIMEOUT = 5.0
CONNECT_TIMEOUT = 2.0
HEALTH_CHECK_INTERVAL = 30

# What a call may raise while Redis is away or a cluster's slot has no master: redis-py's own
# cluster errors (`SlotNotCoveredError`, "Redis Cluster cannot be connected") derive from
# RedisClusterException, which is no RedisError.
UNAVAILABLE: tuple[type[Exception], ...] = (RedisError, RedisClusterException, OSError)

AsyncClient: TypeAlias = aioredis.Redis | AsyncRedisCluster
SyncClient: TypeAlias = redis.Redis | RedisCluster


def connect(
    url: str, *, cluster: bool = False, blocking: bool = False, name: str | None = None
) -> AsyncClient:
    """An asyncio client whose calls fail fast when Redis is away (blocking reads get a longer
    timeout); a cluster client when `cluster`, seeded from the node at `url`. `name`: its
    connections' name in Redis's `CLIENT LIST`."""
    timeout = BLOCK_MS / 1000 + 5 if blocking else TIMEOUT
    options: dict[str, Any] = {
        "socket_timeout": timeout,
        "socket_connect_timeout": CONNECT_TIMEOUT,
        "health_check_interval": HEALTH_CHECK_INTERVAL,
        "client_name": name,
    }
    if cluster:
        return AsyncRedisCluster.from_url(url, **options)
    return aioredis.Redis.from_url(url, **options)


def connect_sync(url: str, *, cluster: bool = False) -> SyncClient:
    """The blocking client of the same Redis, for scripts and tests."""
    options: dict[str, Any] = {"socket_timeout": TIMEOUT, "socket_connect_timeout": CONNECT_TIMEOUT}
    if cluster:
        return RedisCluster.from_url(url, **options)
    return redis.Redis.from_url(url, **options)


def is_cluster(client: AsyncClient | SyncClient) -> bool:
    return isinstance(client, AsyncRedisCluster | RedisCluster)
