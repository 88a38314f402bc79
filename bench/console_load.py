"""Console load: simulated edges publish for N minutes to (a) one box: mosquitto + one console
+ SQLite, (b) one box on PostgreSQL, (c) the cluster (RabbitMQ nodes, console replicas behind
haproxy, PostgreSQL); one JSON line per configuration.

    .venv/bin/python -m bench.console_load [--edges 300] [--cameras 35] [--minutes 2]
        [--configs a,b,c] [--kill] [--evidence auto|mqtt|http] [--keep DIR]

Reported (bench/RESULTS.md, "Console load (issue 16)"): messages and alerts per second
offered and ingested, p50/p95 publish -> stored (the database polled every 0.25 s) and
publish -> shown in a logged-in browser's live feed (SSE), CPU and peak memory per component,
and ``lost`` (alert messages published and never stored) and ``duplicated`` (stored more than
once), plus ``evidence_lost`` (files listed and never stored). Files travel on the broker on
one box (the edge's default) and over HTTP uploads in the cluster (``--evidence`` chooses).

What is simulated (bench/console_load_edges.py): every edge's messages at the edge's own rates
(statuses, snapshots, recording indexes, stats, alerts with files, a 100x burst in the middle),
each edge one MQTT connection with its own account and key, all from this one process; no
video, no detector. Everything runs on this machine, the bench too, so its CPU is reported as
a component of its own. ``--kill`` kills -9 one broker node and one console replica in the
middle of the burst (c); on one box, where there is nothing to fail over to, it kills -9 the
console and starts it again 5 s later (a, b).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from bench.console_load_edges import Ledger, Profile, Schedule, SimEdge
from bench.console_load_upload import Uploader
from bench.console_load_watch import (
    LiveFeed,
    StoredWatch,
    UsageWatch,
    delays,
    load_average,
    lost_and_duplicated,
    percentile,
)
from tests.support.console_rig import ConsoleRig

USER, PASSWORD = "bench.county", "bench-console-load-password"
CONFIGS = {
    "a": "one box: mosquitto + one console + SQLite",
    "b": "one box: mosquitto + one console + PostgreSQL",
    "c": "cluster: 3 RabbitMQ nodes + 2 console replicas behind haproxy + PostgreSQL",
}
RESTART_AFTER_S = 5.0
STALL_S = 120.0  # the drain gives up after this long without a new stored message


def make_rig(config: str, folder: Path) -> ConsoleRig:
    if config == "a":
        return ConsoleRig(folder, database="sqlite")
    if config == "b":
        return ConsoleRig(folder, database="postgresql")
    from tests.support.console_rig_cluster import ClusterRig  # needs RabbitMQ and haproxy

    return ClusterRig(folder)


def kill_mid_run(rig: ConsoleRig, config: str, done: list[str]) -> None:
    """(c): kill -9 a broker node and a console replica; (a, b): the console, restarted."""
    if config == "c":
        rig.kill_broker_node(1)  # type: ignore[attr-defined]
        done.append(f"broker node 2 (kill -9) at {time.time():.1f}")
        rig.kill_replica(1)
        done.append(f"console2 (kill -9) at {time.time():.1f}")
        return
    rig.kill_replica(0)
    done.append(f"console1 (kill -9) at {time.time():.1f}")
    time.sleep(RESTART_AFTER_S)
    rig.replicas[0].start()
    done.append(f"console1 started again at {time.time():.1f}")


def run_config(config: str, args: argparse.Namespace, folder: Path) -> dict[str, Any]:
    profile = Profile(
        args.alerts_per_day, args.burst_factor, args.burst_s, args.snapshot_bytes, args.clip_bytes
    )
    seconds = args.minutes * 60
    sites = [f"load-{i:03d}" for i in range(args.edges)]
    load_before = load_average()
    with make_rig(config, folder) as rig:
        creds = rig.add_edges(sites)
        rig.add_user(USER, PASSWORD, "manager", ["*"])
        rig.start()
        feed = LiveFeed(rig.login(USER, PASSWORD))
        feed.start()
        if not feed.connected.wait(30):
            raise SystemExit(f"{config}: the live feed did not open: {feed.last_error}")
        stored = StoredWatch(rig.database_url)
        stored.start()
        me = os.getpid()
        usage = UsageWatch(lambda: {**rig.components(), "bench": [me]})
        usage.start()
        ledger = Ledger()
        ends = rig.mqtt_endpoints
        path = evidence_path(config, args.evidence)
        uploader = Uploader(rig.url) if path == "http" else None
        edges = [
            SimEdge(creds[s], args.cameras, ends[i % len(ends)], ledger, rig.edge_logins, uploader)
            for i, s in enumerate(sites)
        ]
        try:
            for edge in edges:
                if not edge.connected.wait(60):
                    raise SystemExit(f"{config}: edge {edge.site} did not connect in 60 s")
            schedule = Schedule(edges, profile, seconds)
            start = time.time() + 1.0
            schedule.plan(start)
            runner = threading.Thread(target=schedule.run, name="schedule", daemon=True)
            runner.start()
            killed: list[str] = []
            if args.kill:
                time.sleep(max(0.0, start + seconds / 2 - time.time()))
                kill_mid_run(rig, config, killed)
            runner.join()
            published_s = time.time() - start
            drain_s, drained = drain(ledger, stored, args.drain_s, uploader)
            time.sleep(3.0)  # the browser's last events
        finally:
            for edge in edges:
                edge.close()
            if uploader is not None:
                uploader.close()
        feed.stop()
        spent = usage.stop()
        stored.stop()
        final = stored.final()
        health = replica_health(rig)
    lost, doubled = lost_and_duplicated(ledger.sent, final["rows"])  # type: ignore[arg-type]
    to_stored = delays(ledger.sent, stored.seen)
    to_shown = delays(ledger.sent, feed.shown)
    last = schedule.last  # the last message any edge sent: stored means all were handled
    done_at = stored.seen.get(last) if last is not None else None
    busy_s = done_at - start if done_at is not None else published_s + drain_s
    lag_end = done_at - ledger.sent[last] if done_at is not None and last is not None else None
    alerts = len({a for a, _ in ledger.sent})
    return {
        "config": config,
        "setup": CONFIGS[config],
        "edges": args.edges,
        "cameras_per_edge": args.cameras,
        "cameras": args.edges * args.cameras,
        "minutes": args.minutes,
        "kill": killed,
        "offered": {
            "messages": ledger.messages,
            "by_kind": dict(sorted(ledger.published.items())),
            "msgs_per_s": round(ledger.messages / published_s, 1),
            "mb_per_s": round(ledger.bytes / published_s / 1e6, 2),
            "alerts": alerts,
            "alert_messages": len(ledger.sent),
            "broker_acked": ledger.acks,
        },
        "ingested": {
            "msgs_per_s": round(ledger.messages / busy_s, 1),
            "alerts_per_s": round(alerts / busy_s, 2),
            "drain_s": round(drain_s, 1),
            "last_message_stored_after_s": r3(lag_end),
            "drained": drained,
        },
        "publish_to_stored_s": {
            "p50": r3(percentile(to_stored, 50)),
            "p95": r3(percentile(to_stored, 95)),
            "max": r3(max(to_stored, default=None)),
        },
        "publish_to_browser_s": {
            "p50": r3(percentile(to_shown, 50)),
            "p95": r3(percentile(to_shown, 95)),
            "shown": len(to_shown),
            "repeats": feed.repeats,
            "reconnects": feed.reconnects,
        },
        "lost": len(lost),
        "duplicated": len(doubled) + int(final["evidence_doubled"]),  # type: ignore[call-overload]
        "alerts_stored": final["alerts"],
        "evidence": final["evidence"],
        "evidence_listed": 3 * alerts,
        "evidence_lost": 3 * alerts - int(final["evidence"].get("stored", 0)),  # type: ignore[attr-defined]
        "evidence_path": path,
        "evidence_http": None
        if uploader is None
        else {
            "failed": uploader.failed,
            "retries": uploader.retries,
            "last_problem": uploader.last_problem,
        },
        "cpu_percent": {k: round(100 * v / busy_s, 1) for k, v in sorted(spent.cpu_s.items())},
        "cpu_ms_per_message": {
            k: round(1000 * v / ledger.messages, 2) for k, v in sorted(spent.cpu_s.items())
        },
        "peak_rss_mib": {k: round(v / 1024) for k, v in sorted(spent.peak_rss_kib.items())},
        "generator_lag_s": round(schedule.lag_s, 2),
        "replica_health": health,
        "load_average": {"before": load_before, "after": load_average()},
        "machine": f"{os.cpu_count()} CPUs, {platform.processor() or platform.machine()}",
        "lost_examples": [f"{a}#{s}" for a, s in lost[:5]],
    }


def drain(
    ledger: Ledger, stored: StoredWatch, limit_s: float, uploader: Uploader | None
) -> tuple[float, bool]:
    """Wait until every alert message sent is stored and every upload is done (or
    ``limit_s``, or :data:`STALL_S` without progress: a message stored or an upload ended);
    (seconds waited, whether all were)."""
    began = last_progress = time.time()
    count: tuple[int, int] = (-1, -1)
    while True:
        missing = [k for k in list(ledger.sent) if k not in stored.seen]
        if not missing and (uploader is None or uploader.pending == 0):
            return time.time() - began, True
        now = time.time()
        seen = (len(stored.seen), uploader.pending if uploader is not None else 0)
        if seen != count:
            count, last_progress = seen, now
        if now - began > limit_s or now - last_progress > STALL_S:
            return now - began, False
        time.sleep(0.25)


def evidence_path(config: str, asked: str) -> str:
    """``mqtt`` or ``http``: ``auto`` is the broker on one box (the edge's default) and HTTP
    in the cluster (its design: large files leave the broker)."""
    if asked != "auto":
        return asked
    return "http" if config == "c" else "mqtt"


def replica_health(rig: ConsoleRig) -> dict[str, Any]:
    """Each live replica's /api/health (messages it received and refused)."""
    import httpx

    out: dict[str, Any] = {}
    for replica in rig.replicas:
        if not replica.alive:
            out[replica.name] = "killed"
            continue
        try:
            body = httpx.get(f"{replica.url}/api/health", timeout=10).json()
            out[replica.name] = {k: body[k] for k in ("messages_received", "messages_rejected")}
        except (httpx.HTTPError, ValueError, KeyError) as exc:
            out[replica.name] = f"no answer: {exc}"
    return out


def r3(value: float | None) -> float | None:
    return None if value is None else round(value, 3)


def one_process_each(configs: list[str], argv: list[str]) -> None:
    """Run this bench once per configuration, each in a fresh process (its JSON line on this
    stdout): 300 edges are 900 descriptors, and paho's ``select()`` cannot watch one numbered
    past 1024, so the edges of a second configuration in the same process never connect."""
    rest: list[str] = []
    skip = False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--configs":
            skip = True
        elif not arg.startswith("--configs="):
            rest.append(arg)
    for config in configs:
        subprocess.run([sys.executable, "-m", "bench.console_load", *rest, "--configs", config])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--edges", type=int, default=300)
    parser.add_argument("--cameras", type=int, default=35, help="cameras per edge")
    parser.add_argument("--minutes", type=float, default=2.0, help="publishing time")
    parser.add_argument("--configs", default="a,b,c", help="which of a, b, c (comma-separated)")
    parser.add_argument("--kill", action="store_true", help="kill a node and a replica mid-run")
    parser.add_argument("--alerts-per-day", type=float, default=20.0, help="per camera")
    parser.add_argument("--burst-factor", type=float, default=100.0)
    parser.add_argument("--burst-s", type=float, default=20.0)
    parser.add_argument("--snapshot-bytes", type=int, default=100_000)
    parser.add_argument("--clip-bytes", type=int, default=1_800_000)
    parser.add_argument(
        "--evidence",
        choices=("auto", "mqtt", "http"),
        default="auto",
        help="how files travel: auto = MQTT on one box, HTTP uploads in the cluster",
    )
    parser.add_argument("--drain-s", type=float, default=600.0, help="longest wait after")
    parser.add_argument("--keep", type=Path, help="keep logs and databases in this folder")
    args = parser.parse_args(argv)
    configs = [c.strip() for c in args.configs.split(",") if c.strip()]
    unknown = [c for c in configs if c not in CONFIGS]
    if unknown:
        parser.error(f"expected configurations among a, b, c, got {unknown}")
    if len(configs) > 1:  # each in a process of its own: see :func:`one_process_each`
        one_process_each(configs, sys.argv[1:] if argv is None else argv)
        return
    root = args.keep or Path(tempfile.mkdtemp(prefix="console-load-"))
    try:
        for config in configs:
            try:
                row = run_config(config, args, root / config)
            except (ImportError, pytest.skip.Exception) as exc:  # the cluster's parts are absent
                row = {"config": config, "setup": CONFIGS[config], "skipped": str(exc)}
            print(json.dumps(row), flush=True)
    finally:
        if args.keep is None:
            shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
