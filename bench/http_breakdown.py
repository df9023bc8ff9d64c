"""Where the time of an HTTP invocation goes: server CPU time per request, level by level.

    .venv/bin/python bench/http_breakdown.py [--duration 8] [--rounds 1]

A ladder of servers, one process at a time, each on a free port on 127.0.0.1, each warmed up
with wrk and then measured with `wrk --latency -t1 -c64` while the CPU time (utime + stime from
/proc/<pid>/stat) of the server process is read before and after:
  L0 raw                  bench/apps/raw_asgi.py on uvicorn (httptools, uvloop): the baseline
  S0 raw, funchost server raw_asgi.py on funchost's own HTTP server (funchost.http.server),
                          which `funchost serve` runs the host on
  L1 +request             bench/apps/ladder_asgi.py on funchost's server, LADDER=1: headers
                          joined, route matched, func.HttpRequest built; raw's fixed response
  L2 +function+response   LADDER=2: L1, then `await hello(req)` -> func.HttpResponse, converted
                          with http_output and sent
  L3 funchost (logs off)  funchost serve on a copy of bench/apps/hello_async whose host.json
                          sets logging.logLevel.Function to Warning
  L4 funchost             funchost serve bench/apps/hello_async
  L5 funchost (def)       funchost serve bench/apps/hello_sync
Every level gets the same request, GET /api/hello. CPU µs/request = server CPU time over the
measured wrk run / requests wrk counted. With --rounds N the order rotates every round and
medians are reported.
"""

from __future__ import annotations

import argparse
import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import harness as h

KIND = "http-breakdown"
PATH = "/api/hello"
EXPECTED_BODY = b"Hello, world!"
LOGS_OFF_HOST_JSON = {"version": "2.0", "logging": {"logLevel": {"Function": "Warning"}}}


@dataclass(frozen=True)
class Level:
    key: str
    name: str
    spec: h.ServerSpec


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--duration", type=float, default=8.0, help="seconds of wrk per run")
    parser.add_argument("--rounds", type=int, default=1, help="runs per level (medians)")
    parser.add_argument("--warmup", type=float, default=2.0, help="seconds of wrk before each run")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--threads", type=int, default=1, help="wrk threads")
    parser.add_argument("--keep-logs", action="store_true", help="keep full server logs")
    args = parser.parse_args()
    if args.rounds < 1 or args.duration < 1 or args.connections < args.threads:
        parser.error("need --rounds >= 1, --duration >= 1 and --connections >= --threads")
    return args


def levels(secrets: Path, logs_off_app: Path) -> list[Level]:
    def ladder(key: str, name: str, rung: int) -> Level:
        env = {"LADDER": str(rung)}
        spec = h.funchost_server_spec(key, name, "ladder_asgi:app", path=PATH, env=env)
        return Level(key, name, spec)

    def funchost(key: str, name: str, app_dir: Path) -> Level:
        return Level(key, name, h.funchost_spec(key, name, app_dir, secrets_dir=secrets))

    return [
        Level("L0", "raw", h.raw_asgi_spec("L0", "raw", path=PATH)),
        Level(
            "S0",
            "raw, funchost server",
            h.funchost_server_spec("S0", "raw, funchost server", "raw_asgi:app", path=PATH),
        ),
        ladder("L1", "+request", 1),
        ladder("L2", "+function+response", 2),
        funchost("L3", "funchost (logs off)", logs_off_app),
        funchost("L4", "funchost", h.APPS_DIR / "hello_async"),
        funchost("L5", "funchost (def)", h.APPS_DIR / "hello_sync"),
    ]


def make_logs_off_app(folder: Path) -> Path:
    """A copy of bench/apps/hello_async whose host.json turns the function logs down."""
    app_dir = folder / "hello_async_logs_off"
    shutil.copytree(
        h.APPS_DIR / "hello_async", app_dir, ignore=shutil.ignore_patterns("__pycache__")
    )
    (app_dir / "host.json").write_text(json.dumps(LOGS_OFF_HOST_JSON) + "\n", encoding="utf-8")
    return app_dir


def check_answer(server: h.Server) -> dict[str, Any]:
    """One GET before the load: every level must answer 200 with the same body."""
    answer = h.http_get(server.port, server.spec.path)
    if answer is None:
        raise h.BenchError(f"{server.spec.label} did not answer GET {server.url}")
    status, headers, body = answer
    if status != 200 or body != EXPECTED_BODY:
        raise h.BenchError(
            f"{server.spec.label} answered {status} {body[:200]!r} to GET {server.url}, "
            f"expected 200 {EXPECTED_BODY!r}; log {server.log_path}:\n{server.log_tail()}"
        )
    return {"status": status, "headers": headers, "body": body.decode("utf-8", "replace")}


def run_one(level: Level, args: argparse.Namespace, log_dir: Path, round_no: int) -> dict[str, Any]:
    spec = level.spec
    h.say(f"  [{level.key}] {level.name}: starting")
    server = h.Server(spec, log_dir / f"round{round_no}")
    server.start()
    try:
        ready_s = server.wait_ready(timeout=30.0, interval=0.01)
        answer = check_answer(server)
        h.warm_up(server.url, args)
        before = server.cpu()
        result = h.run_wrk(
            server.url,
            duration=args.duration,
            connections=args.connections,
            threads=args.threads,
        )
        after = server.cpu()
        alive = server.is_running()
    finally:
        returncode = server.stop()
    log = server.summarize_log(keep=args.keep_logs)

    cpu_s = after.seconds - before.seconds
    wall_s = after.at - before.at
    cpu_us = cpu_s * 1e6 / result.requests if result.requests else float("nan")
    busy = cpu_s / wall_s if wall_s > 0 else float("nan")
    h.say(
        f"  [{level.key}] {result.requests_per_sec:,.0f} req/s, {h.fmt(cpu_us, 1)} CPU µs/req "
        f"(server busy {busy:.0%} of one CPU), p50 {h.fmt(result.latency_p50_ms)} ms, "
        f"p99 {h.fmt(result.latency_p99_ms)} ms, errors {result.errors}, {server.exit_note}"
    )
    if not alive or not server.stopped_cleanly:
        h.warn_unclean(level.key, server, alive, returncode, "run")
    if after.processes != 1 or before.processes != 1:
        h.say(
            f"  [{level.key}] note: CPU time summed over {before.processes} -> "
            f"{after.processes} processes (server + descendants)"
        )
    return {
        "key": level.key,
        "name": level.name,
        "round": round_no,
        "command": spec.command(server.port),
        "env": dict(spec.env),
        "ready_s": ready_s,
        "answer": answer,
        "alive_after_run": alive,
        "exit_code": returncode,
        "killed": server.killed,
        "stopped_cleanly": server.stopped_cleanly,
        "cpu": {
            "clock_ticks_per_sec": h.CLOCK_TICKS_PER_SEC,
            "ticks_before": before.ticks,
            "ticks_after": after.ticks,
            "processes_before": before.processes,
            "processes_after": after.processes,
            "cpu_s": cpu_s,
            "wall_s": wall_s,
            "busy_fraction": busy,
            "us_per_request": cpu_us,
        },
        "wrk": result.as_dict(),
        "log": asdict(log),
    }


def summarize(levels_: list[Level], runs: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    summary: dict[str, dict[str, Any]] = {}
    previous: float | None = None
    raw_rps: float | None = None
    for level in levels_:
        mine = [run for run in runs if run["key"] == level.key]
        wrks = [run["wrk"] for run in mine]
        rps = h.median([w["requests_per_sec"] for w in wrks])
        cpu_us = h.median([run["cpu"]["us_per_request"] for run in mine])
        raw_rps = rps if raw_rps is None else raw_rps
        summary[level.key] = {
            "name": level.name,
            "requests_per_sec": rps,
            "ratio_to_raw": rps / raw_rps,
            "cpu_us_per_request": cpu_us,
            "added_cpu_us": None if previous is None else cpu_us - previous,
            "server_busy_fraction": h.median([run["cpu"]["busy_fraction"] for run in mine]),
            "latency_p50_ms": h.median([w["latency_p50_ms"] for w in wrks]),
            "latency_p99_ms": h.median([w["latency_p99_ms"] for w in wrks]),
            "errors": sum(w["errors"] for w in wrks),
            "requests": sum(w["requests"] for w in wrks),
            "log_executing_lines": sum(run["log"]["executing"] for run in mine),
        }
        previous = cpu_us
    return summary


def signed(value: float | None) -> str:
    return "-" if value is None else f"{value:+.1f}"


def level_cells(key: str, s: dict[str, Any], rps_digits: int) -> list[str]:
    """A level's cells in both tables (text and markdown), which differ only in req/s digits."""
    return [
        f"{key} {s['name']}",
        h.fmt(s["requests_per_sec"], rps_digits),
        h.fmt(s["ratio_to_raw"]),
        h.fmt(s["cpu_us_per_request"], 1),
        signed(s["added_cpu_us"]),
        h.fmt(s["latency_p50_ms"]),
        h.fmt(s["latency_p99_ms"]),
        str(s["errors"]),
    ]


def main() -> int:
    args = parse_args()
    run_stamp, info, log_dir = h.begin(KIND)
    load = f"wrk -t{args.threads} -c{args.connections} -d{args.duration:g}s"
    with h.temp_dir("funchost-bench-secrets-") as secrets, h.temp_dir("funchost-ladder-") as tmp:
        ladder = levels(secrets, make_logs_off_app(tmp))
        h.say(
            f"http_breakdown: {load} (+{args.warmup:g}s warm-up), {args.rounds} round(s), "
            f"GET {PATH}, CPU clock {h.CLOCK_TICKS_PER_SEC} ticks/s; logs in {log_dir}"
        )
        runs: list[dict[str, Any]] = []
        for r in range(args.rounds):
            shift = r % len(ladder)
            order = ladder[shift:] + ladder[:shift]
            h.say(f"round {r + 1}/{args.rounds}: {' '.join(level.key for level in order)}")
            for level in order:
                runs.append(run_one(level, args, log_dir, r + 1))

    summary = summarize(ladder, runs)
    l2_over_l0 = summary["L2"]["requests_per_sec"] / summary["L0"]["requests_per_sec"]

    med = " (medians)" if args.rounds > 1 else ""
    h.say()
    h.say(f"Results{med}: {load}, GET {PATH}; CPU = server process utime+stime per request")
    rows = [level_cells(key, s, 1) for key, s in summary.items()]
    headers = [
        "level",
        "req/s",
        "vs raw",
        "CPU µs/req",
        "added µs",
        "p50 ms",
        "p99 ms",
        "errors",
    ]
    h.say(h.text_table(headers, rows))
    h.say()
    busy = ", ".join(f"{k} {s['server_busy_fraction']:.0%}" for k, s in summary.items())
    h.say(f"server CPU busy (of one CPU) during the measured runs: {busy}")
    h.say()
    h.say(
        f"L2/L0 = {l2_over_l0:.2f}: the best throughput ratio any host reaching user code "
        "through func.HttpRequest/func.HttpResponse could get on this machine with funchost's "
        "server."
    )
    if summary["L3"]["log_executing_lines"]:
        h.say(
            f"WARNING: L3 (logs off) still wrote {summary['L3']['log_executing_lines']} "
            "'Executing' lines; host.json's logLevel did not take effect"
        )
    total_errors = sum(s["errors"] for s in summary.values())
    if total_errors:
        h.say(f"NOTE: {total_errors} wrk errors (socket errors + non-2xx/3xx); see JSON and logs")

    data = {
        "benchmark": KIND,
        "machine": info,
        "params": vars(args),
        "path": PATH,
        "logs_off_host_json": LOGS_OFF_HOST_JSON,
        "levels": {level.key: {"name": level.name, "spec": asdict(level.spec)} for level in ladder},
        "runs": runs,
        "summary": summary,
        "l2_over_l0_req_per_sec": l2_over_l0,
        "log_dir": str(log_dir),
    }
    md_rows = [[f"{load} x{args.rounds}", *level_cells(key, s, 0)] for key, s in summary.items()]
    md_headers = [
        "Load",
        "Level",
        "req/s",
        "req/s vs raw",
        "CPU µs/req",
        "Added µs",
        "p50 ms",
        "p99 ms",
        "Errors",
    ]
    h.report(KIND, run_stamp, info, data, md_headers, md_rows)
    return 0


if __name__ == "__main__":
    h.run_main(main, "http_breakdown")
