"""Sustained load: errors and memory of `funchost serve` under wrk, raw ASGI on uvicorn alongside.

    .venv/bin/python bench/load_test.py [--duration 60] [--connections 64] [--app both]

One server at a time (raw ASGI baseline first, then funchost async and/or sync): start, warm up
with wrk, then run wrk for --duration seconds while sampling the server's VmRSS every second.
Reported per server: requests, errors (wrk socket errors of every kind + non-2xx/3xx
responses), RSS after warm-up, max RSS, RSS at the end, and the flat-memory verdict.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import asdict
from pathlib import Path
from typing import Any

import harness as h

FLAT_END_DELTA_MIB = 10.0
FLAT_WINDOW_S = 30.0
FLAT_MIN_RISE_MIB = 1.0
FLAT_RULE = (
    f"flat memory = (RSS at end - RSS after warm-up) <= {FLAT_END_DELTA_MIB:g} MiB AND no "
    f"monotonic growth in the last {FLAT_WINDOW_S:g} s, where monotonic growth means every "
    f"1-s sample in that window is >= the one before it AND the window's last sample is more "
    f"than {FLAT_MIN_RISE_MIB:g} MiB above its first"
)
PASS_RULE = "PASS = zero errors AND flat memory AND the server stayed up until stopped"


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=60.0, help="seconds of wrk")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--app", choices=["async", "sync", "both"], default="both")
    parser.add_argument("--warmup", type=float, default=5.0, help="seconds of wrk first")
    parser.add_argument("--interval", type=float, default=1.0, help="RSS sampling interval (s)")
    parser.add_argument("--keep-logs", action="store_true", help="keep full server logs")
    args = parser.parse_args()
    if args.duration < 1 or args.connections < args.threads or args.interval <= 0:
        parser.error("need --duration >= 1, --connections >= --threads, --interval > 0")
    return args


def memory_verdict(
    start: int, end: int, samples: list[tuple[float, int]], duration: float
) -> dict[str, Any]:
    window_start = max(0.0, duration - FLAT_WINDOW_S)
    window = [rss for t, rss in samples if t >= window_start]
    rises_only = len(window) >= 2 and all(b >= a for a, b in itertools.pairwise(window))
    window_rise = (window[-1] - window[0]) / h.MIB if len(window) >= 2 else 0.0
    monotonic = rises_only and window_rise > FLAT_MIN_RISE_MIB
    end_delta = (end - start) / h.MIB
    slope = _slope_mib_per_min(samples)
    return {
        "end_minus_start_mib": end_delta,
        "window_samples": len(window),
        "window_rise_mib": window_rise,
        "window_non_decreasing": rises_only,
        "monotonic_growth": monotonic,
        "slope_mib_per_min": slope,
        "flat": end_delta <= FLAT_END_DELTA_MIB and not monotonic,
    }


def _slope_mib_per_min(samples: list[tuple[float, int]]) -> float:
    """Least-squares slope of RSS over time, for the reader (not part of the verdict)."""
    if len(samples) < 2:
        return 0.0
    ts = [t for t, _ in samples]
    ys = [rss / h.MIB for _, rss in samples]
    mt, my = sum(ts) / len(ts), sum(ys) / len(ys)
    den = sum((t - mt) ** 2 for t in ts)
    if den == 0:
        return 0.0
    return 60.0 * sum((t - mt) * (y - my) for t, y in zip(ts, ys, strict=True)) / den


def run_one(spec: h.ServerSpec, args: argparse.Namespace, log_dir: Path) -> dict[str, Any]:
    h.say(f"[{spec.key}] {spec.label}: starting")
    server = h.Server(spec, log_dir)
    server.start()
    try:
        ready_s = server.wait_ready(timeout=30.0, interval=0.01)
        warm = h.warm_up(server.url, args)
        start_rss = server.rss()
        if start_rss is None:
            raise h.BenchError(f"{spec.label} died during warm-up; log {server.log_path}")
        h.say(
            f"[{spec.key}] warm-up {warm.requests_per_sec:,.0f} req/s, errors {warm.errors}; "
            f"RSS {start_rss / h.MIB:.1f} MiB; {args.duration:g} s of load..."
        )
        sampler = h.RssSampler(server.pid, args.interval)
        sampler.start()
        try:
            result = h.run_wrk(
                server.url,
                duration=args.duration,
                connections=args.connections,
                threads=args.threads,
            )
        finally:
            samples = sampler.stop()
        end_rss = server.rss()
        alive = end_rss is not None
    finally:
        returncode = server.stop()
    log = server.summarize_log(keep=args.keep_logs)
    if end_rss is None:
        end_rss = samples[-1][1] if samples else start_rss
    max_rss = max([start_rss, end_rss, *(rss for _, rss in samples)])
    memory = memory_verdict(start_rss, end_rss, samples, result.duration_s)
    up = alive and server.stopped_cleanly
    ok = result.errors == 0 and memory["flat"] and up
    h.say(
        f"[{spec.key}] {result.requests:,} requests ({result.requests_per_sec:,.0f} req/s), "
        f"errors {result.errors}, RSS {start_rss / h.MIB:.1f} -> max {max_rss / h.MIB:.1f} -> "
        f"end {end_rss / h.MIB:.1f} MiB, {server.exit_note}"
    )
    if not up:
        h.warn_unclean(spec.key, server, alive, returncode, "load")
    return {
        "key": spec.key,
        "label": spec.label,
        "command": spec.command(server.port),
        "ready_s": ready_s,
        "warmup": warm.as_dict(),
        "wrk": result.as_dict(),
        "requests": result.requests,
        "errors": result.errors,
        "rss_start_mib": start_rss / h.MIB,
        "rss_max_mib": max_rss / h.MIB,
        "rss_end_mib": end_rss / h.MIB,
        "rss_samples": [(round(t, 3), rss) for t, rss in samples],
        "memory": memory,
        "alive_after_load": alive,
        "exit_code": returncode,
        "stopped_cleanly": server.stopped_cleanly,
        "verdict": h.verdict(ok),
        "log": asdict(log),
    }


def rss_profile(samples: list[tuple[float, int]], step: float) -> str:
    """RSS (MiB) at t = 0, step, 2*step, ... s into the load, from the 1-s samples."""
    points: list[str] = []
    mark = 0.0
    for t, rss in samples:
        if t + 0.5 >= mark:
            points.append(f"{rss / h.MIB:.1f}")
            mark += step
    return " ".join(points)


def main() -> int:
    args = parse_args()
    run_stamp, info, log_dir = h.begin("load")
    results: list[dict[str, Any]] = []
    with h.temp_dir("funchost-bench-secrets-") as secrets:
        specs = [h.raw_asgi_spec("raw")]
        if args.app in ("async", "both"):
            specs.append(
                h.funchost_spec(
                    "async",
                    "funchost serve (async def)",
                    h.APPS_DIR / "hello_async",
                    secrets_dir=secrets,
                )
            )
        if args.app in ("sync", "both"):
            specs.append(
                h.funchost_spec(
                    "sync", "funchost serve (def)", h.APPS_DIR / "hello_sync", secrets_dir=secrets
                )
            )
        h.say(
            f"load_test: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
            f"(+{args.warmup:g}s warm-up) per server; logs in {log_dir}"
        )
        for spec in specs:
            results.append(run_one(spec, args, log_dir))

    h.say()
    h.say(f"Results: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s")
    rows = [
        [
            r["label"] + (" (baseline)" if r["key"] == "raw" else ""),
            f"{r['requests']:,}",
            h.fmt(r["wrk"]["requests_per_sec"], 0),
            str(r["errors"]),
            h.fmt(r["rss_start_mib"], 1),
            h.fmt(r["rss_max_mib"], 1),
            h.fmt(r["rss_end_mib"], 1),
            f"{r['memory']['end_minus_start_mib']:+.1f}",
            "yes" if r["memory"]["flat"] else "no",
            r["verdict"],
        ]
        for r in results
    ]
    headers = [
        "server",
        "requests",
        "req/s",
        "errors",
        "RSS start",
        "RSS max",
        "RSS end",
        "end-start",
        "flat",
        "verdict",
    ]
    h.say(h.text_table(headers, rows))
    h.say("(RSS in MiB; start = right after warm-up)")
    h.say()
    for r in results:
        socket = r["wrk"]["socket_errors"]
        h.say(
            f"{r['label']}: socket errors {socket}, non-2xx/3xx {r['wrk']['non_2xx_3xx']}; "
            f"last {FLAT_WINDOW_S:g} s rise {r['memory']['window_rise_mib']:+.2f} MiB "
            f"(non-decreasing: {r['memory']['window_non_decreasing']}), slope "
            f"{r['memory']['slope_mib_per_min']:+.2f} MiB/min"
        )
        h.say(f"  RSS every 10 s: {rss_profile(r['rss_samples'], 10.0)}")
    h.say()
    h.say(f"Rule: {FLAT_RULE}.")
    h.say(f"      {PASS_RULE}.")
    funchost = [r for r in results if r["key"] != "raw"]
    overall = all(r["verdict"] == "PASS" for r in funchost)
    h.say(f"funchost overall: {h.verdict(overall)}")

    data = {
        "benchmark": "load",
        "machine": info,
        "params": vars(args),
        "flat_rule": FLAT_RULE,
        "pass_rule": PASS_RULE,
        "results": results,
        "funchost_verdict": h.verdict(overall),
    }
    load = f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s"
    md_rows = [
        [
            load,
            r["label"],
            f"{r['requests']:,}",
            str(r["errors"]),
            h.fmt(r["rss_start_mib"], 1),
            h.fmt(r["rss_max_mib"], 1),
            h.fmt(r["rss_end_mib"], 1),
            "yes" if r["memory"]["flat"] else "no",
            r["verdict"] + (" (baseline)" if r["key"] == "raw" else ""),
        ]
        for r in results
    ]
    md_headers = [
        "Load",
        "Server",
        "Requests",
        "Errors",
        "RSS after warm-up (MiB)",
        "RSS max (MiB)",
        "RSS end (MiB)",
        "Flat memory",
        "Verdict",
    ]
    h.report("load", run_stamp, info, data, md_headers, md_rows)
    return 0


if __name__ == "__main__":
    h.run_main(main, "load_test")
