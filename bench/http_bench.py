"""HTTP throughput and latency: funchost (async and sync functions) against raw ASGI on uvicorn.

    .venv/bin/python bench/http_bench.py [--duration 10] [--connections 64] [--threads 1]
                                         [--rounds 1]

One server process at a time, each on a free port on 127.0.0.1:
  a  bench/apps/raw_asgi.py on uvicorn (httptools, uvloop, no access log)   -- the baseline
  b  funchost serve bench/apps/hello_async   (async def HTTP function)
  c  funchost serve bench/apps/hello_sync    (def HTTP function, run on the thread pool)
  d  funchost start bench/apps/hello_sync    (the same def function as users develop it: reload
                                             on, development logging); target d/c >= 0.9
With --baseline REV, also
  b0 funchost serve bench/apps/hello_async   (b, served by the funchost of git revision REV,
                                             checked out in a temporary worktree): b/b0 says
                                             whether HEAD is slower than REV, measured in the
                                             same run (no-regression targets, whatever the machine)
Each is warmed up with wrk, measured with `wrk --latency`, then stopped by PID. With
--rounds N the order rotates every round and medians are reported.
"""

from __future__ import annotations

import argparse
import contextlib
from dataclasses import asdict, replace
from pathlib import Path
from typing import Any

import harness as h

TARGETS = {
    "b/a req/s": 0.65,
    "c/a req/s": 0.5,
    "p99 b/a": 2.0,
    "p99 c/a": 2.0,
    "d/c req/s": 0.9,
}


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=10.0, help="seconds of wrk per run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--rounds", type=int, default=1, help="runs per server (medians)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk before each run")
    parser.add_argument("--keep-logs", action="store_true", help="keep full server logs")
    parser.add_argument(
        "--baseline",
        metavar="REV",
        default=None,
        help="also serve b with funchost at this git revision (b0), in the same run",
    )
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.connections < args.threads:
        parser.error("need --rounds >= 1, --duration >= 1 and --connections >= --threads")
    return args


def run_one(
    spec: h.ServerSpec, args: argparse.Namespace, log_dir: Path, round_no: int
) -> dict[str, Any]:
    h.say(f"  [{spec.key}] {spec.label}: starting")
    server = h.Server(spec, log_dir / f"round{round_no}")
    server.start()
    try:
        ready_s = server.wait_ready(timeout=30.0, interval=0.01)
        h.warm_up(server.url, args)
        result = h.run_wrk(
            server.url,
            duration=args.duration,
            connections=args.connections,
            threads=args.threads,
        )
        alive = server.is_running()
    finally:
        returncode = server.stop()
    log = server.summarize_log(keep=args.keep_logs)
    h.say(
        f"  [{spec.key}] {result.requests_per_sec:,.0f} req/s, p50 {h.fmt(result.latency_p50_ms)}"
        f" ms, p99 {h.fmt(result.latency_p99_ms)} ms, errors {result.errors}, {server.exit_note}"
    )
    if not alive or not server.stopped_cleanly:
        h.warn_unclean(spec.key, server, alive, returncode, "run")
    return {
        "key": spec.key,
        "label": spec.label,
        "round": round_no,
        "command": spec.command(server.port),
        "ready_s": ready_s,
        "alive_after_run": alive,
        "exit_code": returncode,
        "killed": server.killed,
        "stopped_cleanly": server.stopped_cleanly,
        "wrk": result.as_dict(),
        "log": asdict(log),
    }


def main() -> int:
    args = parse_args()
    run_stamp, info, log_dir = h.begin("http")
    with contextlib.ExitStack() as stack:
        secrets = stack.enter_context(h.temp_dir("funchost-bench-secrets-"))
        specs = [
            h.raw_asgi_spec("a"),
            h.funchost_spec(
                "b", "funchost serve (async def)", h.APPS_DIR / "hello_async", secrets_dir=secrets
            ),
            h.funchost_spec(
                "c", "funchost serve (def)", h.APPS_DIR / "hello_sync", secrets_dir=secrets
            ),
            h.funchost_spec(
                "d",
                "funchost start (def)",
                h.APPS_DIR / "hello_sync",
                command="start",
                path="/api/hello",
            ),
        ]
        baseline = None
        if args.baseline is not None:
            baseline, source = stack.enter_context(h.source_at(args.baseline))
            old = h.funchost_spec(
                "b0",
                f"funchost serve (async def) at {baseline}",
                h.APPS_DIR / "hello_async",
                secrets_dir=secrets,
            )
            specs.append(replace(old, env={**old.env, "PYTHONPATH": str(source)}))
        h.say(
            f"http_bench: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s "
            f"(+{args.warmup:g}s warm-up), {args.rounds} round(s); logs in {log_dir}"
        )
        runs: list[dict[str, Any]] = []
        for r in range(args.rounds):
            shift = r % len(specs)
            order = specs[shift:] + specs[:shift]
            h.say(f"round {r + 1}/{args.rounds}: {' '.join(s.key for s in order)}")
            for spec in order:
                runs.append(run_one(spec, args, log_dir, r + 1))

    summary: dict[str, dict[str, Any]] = {}
    for spec in specs:
        mine = [run["wrk"] for run in runs if run["key"] == spec.key]
        summary[spec.key] = {
            "label": spec.label,
            "requests_per_sec": h.median([w["requests_per_sec"] for w in mine]),
            "latency_p50_ms": h.median([w["latency_p50_ms"] for w in mine]),
            "latency_p99_ms": h.median([w["latency_p99_ms"] for w in mine]),
            "errors": sum(w["errors"] for w in mine),
            "requests": sum(w["requests"] for w in mine),
        }
    a, b, c, d = summary["a"], summary["b"], summary["c"], summary["d"]
    ratios = {
        "b/a req/s": b["requests_per_sec"] / a["requests_per_sec"],
        "c/a req/s": c["requests_per_sec"] / a["requests_per_sec"],
        "d/a req/s": d["requests_per_sec"] / a["requests_per_sec"],
        "p99 b/a": b["latency_p99_ms"] / a["latency_p99_ms"],
        "p99 c/a": c["latency_p99_ms"] / a["latency_p99_ms"],
        "p99 d/a": d["latency_p99_ms"] / a["latency_p99_ms"],
        "d/c req/s": d["requests_per_sec"] / c["requests_per_sec"],
    }
    if baseline is not None:
        b0 = summary["b0"]
        ratios["b0/a req/s"] = b0["requests_per_sec"] / a["requests_per_sec"]
        ratios["p99 b0/a"] = b0["latency_p99_ms"] / a["latency_p99_ms"]
        ratios["b/b0 req/s"] = b["requests_per_sec"] / b0["requests_per_sec"]
        ratios["p99 b/b0"] = b["latency_p99_ms"] / b0["latency_p99_ms"]
    checks = {
        "b/a req/s": ratios["b/a req/s"] >= TARGETS["b/a req/s"],
        "c/a req/s": ratios["c/a req/s"] >= TARGETS["c/a req/s"],
        "p99 b/a": ratios["p99 b/a"] <= TARGETS["p99 b/a"],
        "p99 c/a": ratios["p99 c/a"] <= TARGETS["p99 c/a"],
        "d/c req/s": ratios["d/c req/s"] >= TARGETS["d/c req/s"],
    }

    med = " (medians)" if args.rounds > 1 else ""
    h.say()
    h.say(f"Results{med}: wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s")
    rows = [
        [
            f"{key} {s['label']}",
            h.fmt(s["requests_per_sec"], 1),
            h.fmt(s["latency_p50_ms"]),
            h.fmt(s["latency_p99_ms"]),
            str(s["errors"]),
        ]
        for key, s in summary.items()
    ]
    h.say(h.text_table(["name", "req/s", "p50 ms", "p99 ms", "errors"], rows))
    h.say()
    h.say(
        f"throughput b/a {ratios['b/a req/s']:.2f}   c/a {ratios['c/a req/s']:.2f}   "
        f"d/a {ratios['d/a req/s']:.2f}      p99 b/a {ratios['p99 b/a']:.2f}   "
        f"c/a {ratios['p99 c/a']:.2f}   d/a {ratios['p99 d/a']:.2f}      "
        f"start/serve (def) d/c {ratios['d/c req/s']:.2f}"
    )
    target_rows = [
        ["throughput b/a >= 0.65", f"{ratios['b/a req/s']:.2f}", h.verdict(checks["b/a req/s"])],
        ["throughput c/a >= 0.50", f"{ratios['c/a req/s']:.2f}", h.verdict(checks["c/a req/s"])],
        ["p99 b <= 2x p99 a", f"{ratios['p99 b/a']:.2f}x", h.verdict(checks["p99 b/a"])],
        ["p99 c <= 2x p99 a", f"{ratios['p99 c/a']:.2f}x", h.verdict(checks["p99 c/a"])],
        [
            "start costs <= 10% over serve (def): d/c >= 0.90",
            f"{ratios['d/c req/s']:.2f}",
            h.verdict(checks["d/c req/s"]),
        ],
    ]
    h.say(h.text_table(["target", "got", "verdict"], target_rows))
    if baseline is not None:
        h.say(
            f"against {baseline} in this run (b0): throughput b/b0 {ratios['b/b0 req/s']:.3f}   "
            f"p99 b/b0 {ratios['p99 b/b0']:.2f}"
        )
    total_errors = sum(s["errors"] for s in summary.values())
    if total_errors:
        h.say(f"NOTE: {total_errors} wrk errors (socket errors + non-2xx/3xx); see JSON and logs")

    data = {
        "benchmark": "http",
        "machine": info,
        "params": vars(args),
        "runs": runs,
        "summary": summary,
        "ratios": ratios,
        "targets": TARGETS,
        "checks": {k: h.verdict(v) for k, v in checks.items()},
        "log_dir": str(log_dir),
    }
    load = f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s x{args.rounds}"
    md_rows = [
        [
            load,
            s["label"],
            h.fmt(s["requests_per_sec"], 0),
            h.fmt(s["latency_p50_ms"]),
            h.fmt(s["latency_p99_ms"]),
            str(s["errors"]),
            "1.00" if key == "a" else f"{ratios[f'{key}/a req/s']:.2f}",
            "1.00" if key == "a" else f"{ratios[f'p99 {key}/a']:.2f}",
        ]
        for key, s in summary.items()
    ]
    md_headers = [
        "Load",
        "Server",
        "req/s",
        "p50 ms",
        "p99 ms",
        "Errors",
        "req/s vs raw",
        "p99 vs raw",
    ]
    h.report("http", run_stamp, info, data, md_headers, md_rows)
    return 0


if __name__ == "__main__":
    h.run_main(main, "http_bench")
