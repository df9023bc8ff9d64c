"""Reload on save: from saving a changed function_app.py to the new code answering.

    .venv/bin/python bench/reload_bench.py [--saves 10] [--functions 20]

`funchost start` (reload on, as users run it) serves a generated v2 app of `--functions` HTTP
functions. Each save rewrites function_app.py so that /api/f00 answers a new token; the time
is from just before the write until a GET (fresh connection, every 5 ms) first answers with
that token. Saves are 1.5 s apart (the watcher's 300 ms debounce is part of what is measured).
Baseline, in the same run: the cold start of the same app under `funchost start --no-reload`
(process spawn to first 200), timed `--saves` times; the ratio reload/cold shows what a save
costs against starting the host by hand. Target: median save-to-new-code <= 1.0 s.
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path
from typing import Any

import harness as h

TARGET_S = 1.0
POLL_S = 0.005
PAUSE_S = 1.5


def app_source(functions: int, token: str) -> str:
    lines = [
        "import azure.functions as func",
        "",
        "app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)",
        "",
    ]
    for i in range(functions):
        answer = token if i == 0 else f"f{i:02d}"
        lines += [
            "",
            f"@app.route(route='f{i:02d}')",
            f"def f{i:02d}(req: func.HttpRequest) -> func.HttpResponse:",
            f"    return func.HttpResponse({answer!r})",
            "",
        ]
    return "\n".join(lines)


def write_app(root: Path, functions: int, token: str) -> Path:
    root.mkdir(parents=True, exist_ok=True)
    (root / "host.json").write_text('{"version": "2.0"}')
    (root / "function_app.py").write_text(app_source(functions, token))
    return root


def wait_for_body(port: int, path: str, body: bytes, timeout: float = 30.0) -> float:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        answer = h.http_get(port, path, timeout=2.0)
        if answer is not None and answer[0] == 200 and answer[2] == body:
            return time.perf_counter()
        time.sleep(POLL_S)
    raise h.BenchError(f"{path} never answered {body!r} within {timeout:.0f} s")


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--saves", type=int, default=10)
    parser.add_argument("--functions", type=int, default=20)
    return parser.parse_args()


def stats(values: list[float]) -> dict[str, float]:
    return {"median": statistics.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    args = parse_args()
    run_stamp, info, log_dir = h.begin("reload")
    reloads: list[float] = []
    colds: list[float] = []
    with h.temp_dir("funchost-bench-reload-") as tmp:
        app = write_app(tmp / "app", args.functions, "token-000")
        spec = h.funchost_spec("start", "funchost start", app, command="start", path="/api/f00")
        with h.running(spec, log_dir) as server:
            port = server.port
            wait_for_body(port, "/api/f00", b"token-000")
            for save in range(1, args.saves + 1):
                time.sleep(PAUSE_S)
                token = f"token-{save:03d}"
                began = time.perf_counter()
                (app / "function_app.py").write_text(app_source(args.functions, token))
                reloads.append(wait_for_body(port, "/api/f00", token.encode()) - began)
                h.say(f"  save {save}/{args.saves}: new code answers after {reloads[-1]:.3f} s")
        cold_spec = h.funchost_spec(
            "start-no-reload",
            "funchost start --no-reload",
            app,
            command="start",
            path="/api/f00",
            extra_args=("--no-reload",),
        )
        for run in range(args.saves):
            server = h.Server(cold_spec, log_dir / f"cold{run + 1}")
            try:
                server.start()
                colds.append(server.wait_ready())
            finally:
                server.stop()
            h.say(f"  cold start {run + 1}/{args.saves}: first 200 after {colds[-1]:.3f} s")

    summary = {"reload_s": stats(reloads), "cold_start_s": stats(colds)}
    ratio = summary["reload_s"]["median"] / summary["cold_start_s"]["median"]
    check = h.verdict(summary["reload_s"]["median"] <= TARGET_S)
    h.say()
    rows = [
        [name, *(h.fmt(s[k], 3) for k in ("median", "min", "max"))]
        for name, s in (
            ("save to new code answering (s)", summary["reload_s"]),
            ("cold start, --no-reload (s)", summary["cold_start_s"]),
        )
    ]
    h.say(h.text_table(["measure", "median", "min", "max"], rows))
    h.say(f"reload / cold start (medians): {ratio:.2f}x")
    h.say(
        h.text_table(
            ["target", "got", "verdict"],
            [
                [
                    f"median save to new code <= {TARGET_S:.1f} s",
                    f"{summary['reload_s']['median']:.3f} s",
                    check,
                ]
            ],
        )
    )
    data: dict[str, Any] = {
        "benchmark": "reload",
        "machine": info,
        "params": vars(args),
        "reload_runs_s": reloads,
        "cold_start_runs_s": colds,
        "summary": summary,
        "ratio_reload_over_cold": ratio,
        "target_s": TARGET_S,
        "check": check,
    }
    md_rows = [
        [
            str(args.saves),
            str(args.functions),
            h.fmt(summary["reload_s"]["median"], 3),
            h.fmt(summary["reload_s"]["max"], 3),
            h.fmt(summary["cold_start_s"]["median"], 3),
            f"{ratio:.2f}",
            check,
        ]
    ]
    md_headers = [
        "Saves",
        "Functions",
        "Save to new code (s, median)",
        "(s, max)",
        "Cold start --no-reload (s, median)",
        "Reload / cold",
        "Target <= 1.0 s",
    ]
    h.report("reload", run_stamp, info, data, md_headers, md_rows)
    return 0


if __name__ == "__main__":
    h.run_main(main, "reload_bench")
