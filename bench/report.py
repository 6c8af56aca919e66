"""Markdown tables of the figures, each with a liveblog/Nchan ratio row where Nchan ran."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

FANOUT_COLUMNS: tuple[tuple[str, str], ...] = (
    ("connected", "connected"),
    ("lost", "lost"),
    ("connect_s", "connect all s"),
    ("connect_p99_ms", "connect p99 ms"),
    ("kb_per_reader", "idle KB/reader"),
    ("fanout_p50_ms", "fan-out p50 ms"),
    ("fanout_p99_ms", "fan-out p99 ms"),
    ("latency_p50_ms", "delivery p50 ms"),
    ("latency_p99_ms", "delivery p99 ms"),
    ("latency_max_ms", "delivery max ms"),
    ("deliveries_per_s", "deliveries/s"),
    ("backlog_s", "backlog s"),
    ("cpu_us_per_delivery", "server CPU µs/delivery"),
    ("server_cpu_pct", "server CPU %"),
    ("publish_p99_ms", "publish p99 ms"),
    ("fsync_max_ms", "Redis fsync max ms"),
    ("missing", "missing"),
    ("duplicates", "dup"),
    ("loadgen_cpu_pct", "loadgen CPU %"),
)
COUNTS = {"missing", "duplicates", "requests", "non_2xx", "reconnected", "connect_failed"}


def fmt(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        if abs(value) >= 1000:
            return f"{value:,.0f}"
        if abs(value) >= 10:
            return f"{value:.1f}"
        return f"{value:.2f}"
    return str(value)


def ratio(ours: Any, theirs: Any) -> str:
    if not isinstance(ours, int | float) or not isinstance(theirs, int | float) or isinstance(ours, bool):
        return "–"
    if math.isnan(ours) or math.isnan(theirs) or theirs == 0:
        return "–"
    return f"{ours / theirs:.2f}×"


def table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(row) + " |" for row in rows]
    return "\n".join(lines)


def _key(row: dict[str, Any]) -> tuple[str, str, int]:
    return row["plan"], row["transport"], row["n"]


def fanout_table(rows: Sequence[dict[str, Any]]) -> str:
    """One row per server and run; a ratio row (liveblog / Nchan) after each pair."""
    header = ["scenario", "transport", "N", "server", *(label for _, label in FANOUT_COLUMNS)]
    out: list[list[str]] = []
    order: list[tuple[str, str, int]] = []
    by_key: dict[tuple[str, str, int], dict[str, dict[str, Any]]] = {}
    for row in rows:
        key = _key(row)
        if key not in by_key:
            order.append(key)
            by_key[key] = {}
        by_key[key][row["server"]] = row
    for key in order:
        servers = by_key[key]
        for name, row in servers.items():
            cells = [fmt(row.get(col)) for col, _ in FANOUT_COLUMNS]
            if not row.get("complete", True):
                cells[-3] += " (timeout)"
            out.append([key[0], key[1], f"{key[2]:,}", name, *cells])
        ours, theirs = servers.get("liveblog"), servers.get("nchan")
        if ours and theirs:
            cells = [ratio(ours.get(col), theirs.get(col)) for col, _ in FANOUT_COLUMNS]
            out.append([key[0], key[1], f"{key[2]:,}", "**ratio**", *cells])
    return table(header, out)


def storm_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = (
        ("reconnected", "reconnected"),
        ("connect_failed", "failed"),
        ("reconnect_s", "reconnect all s"),
        ("caught_up_s", "all caught up s"),
        ("missing", "missing"),
        ("duplicates", "dup"),
        ("strays", "stray"),
        ("resets", "reset"),
        ("redis_commands", "Redis commands"),
    )
    out = [[row["server"], f"{row['n']:,}", *(fmt(row.get(c)) for c, _ in columns)] for row in rows]
    ours = next((r for r in rows if r["server"] == "liveblog"), None)
    theirs = next((r for r in rows if r["server"] == "nchan"), None)
    if ours and theirs:
        out.append(["**ratio**", "", *(ratio(ours.get(c), theirs.get(c)) for c, _ in columns)])
    text = table(["server", "N", *(label for _, label in columns)], out)
    if ours and ours.get("redis_breakdown"):
        text += (
            "\n\nRedis commands during the storm: "
            + ", ".join(f"{name} {calls}" for name, calls in ours["redis_breakdown"].items())
            + " (the table counts the storm's own: not the INFO probe's connection handshake)"
        )
    return text


def pages_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = (
        ("requests_per_s", "requests/s"),
        ("requests", "requests"),
        ("non_2xx", "non-2xx"),
        ("redis_per_view", "Redis commands/view"),
    )
    out = [[row["server"], *(fmt(row.get(c)) for c, _ in columns)] for row in rows]
    ours = next((r for r in rows if r["server"] == "liveblog"), None)
    theirs = next((r for r in rows if r["server"] != "liveblog"), None)
    if ours and theirs:
        out.append(["**ratio**", *(ratio(ours.get(c), theirs.get(c)) for c, _ in columns[:1]), "", "", ""])
    return table(["server", *(label for _, label in columns)], out)


def workers_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = (
        ("deliveries_per_s", "deliveries/s"),
        ("backlog_s", "backlog s"),
        ("fanout_p99_ms", "fan-out p99 ms"),
        ("cpu_us_per_delivery", "server CPU µs/delivery"),
        ("publish_p99_ms", "publish p99 ms"),
        ("missing", "missing"),
        ("duplicates", "dup"),
        ("loadgen_cpu_pct", "loadgen CPU %"),
    )
    out = [
        [f"{row['workers']}", row["plan"], f"{row['n']:,}", *(fmt(row.get(c)) for c, _ in columns)]
        for row in rows
    ]
    one = next((r for r in rows if r["workers"] == 1), None)
    two = next((r for r in rows if r["workers"] == 2), None)
    if one and two:
        out.append(["**2 / 1**", "", "", *(ratio(two.get(c), one.get(c)) for c, _ in columns)])
    return table(["workers", "scenario", "N", *(label for _, label in columns)], out)


def cluster_table(rows: Sequence[dict[str, Any]]) -> str:
    columns = (
        ("connected", "connected"),
        ("publish_p50_ms", "publish p50 ms"),
        ("publish_p99_ms", "publish p99 ms"),
        ("fanout_p50_ms", "fan-out p50 ms"),
        ("fanout_p99_ms", "fan-out p99 ms"),
        ("missing", "missing"),
        ("duplicates", "dup"),
        ("publish_failures", "publish failures"),
        ("server_cpu_pct", "server CPU %"),
        ("loadgen_cpu_pct", "loadgen CPU %"),
    )
    out = [
        [
            row["redis"],
            row["plan"],
            f"{row['n']:,}",
            f"{row['blogs']}",
            *(fmt(row.get(c)) for c, _ in columns),
        ]
        for row in rows
    ]
    one = next((r for r in rows if not r["cluster"]), None)
    many = next((r for r in rows if r["cluster"]), None)
    if one and many:
        out.append(["**cluster / one**", "", "", "", *(ratio(many.get(c), one.get(c)) for c, _ in columns)])
    return table(["Redis", "scenario", "N", "blogs", *(label for _, label in columns)], out)
