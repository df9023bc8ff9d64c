"""Cold start and idle memory: `funchost start` on a 20-function v1 app vs raw ASGI on uvicorn.

    .venv/bin/python bench/cold_start.py [--runs 5]

Each run, in a rotating order:
  import   time for `python -c "import uvicorn, azure.functions"` to finish   (baseline)
  raw      raw ASGI app on uvicorn: time to first 200 on GET /, then idle RSS  (baseline)
  funchost `funchost start <generated app>`: time to first 200 on GET /api/Func07, idle RSS
Time to first response runs from just before the process is spawned until a GET (fresh
connection each try, 1 ms between tries) answers 200. Idle RSS is VmRSS from
/proc/<pid>/status after 2 s without requests.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import harness as h

FUNCTION_COUNT = 20
PROBE_FUNCTION = "Func07"
TARGET_TTFR_S = 1.0
TARGET_RSS_MIB = 80.0

FUNCTION_JSON = {
    "bindings": [
        {
            "authLevel": "anonymous",
            "type": "httpTrigger",
            "direction": "in",
            "name": "req",
            "methods": ["get"],
        },
        {"type": "http", "direction": "out", "name": "$return"},
    ]
}
INIT_PY = 'def main(req):\n    return "ok"\n'


def generate_app(root: Path) -> Path:
    """A v1 app with Func01..Func20: anonymous GET httpTrigger, `def main(req): return "ok"`."""
    app = root / "cold20"
    app.mkdir()
    (app / "host.json").write_text('{"version": "2.0"}\n', encoding="utf-8")
    for i in range(1, FUNCTION_COUNT + 1):
        folder = app / f"Func{i:02d}"
        folder.mkdir()
        (folder / "function.json").write_text(json.dumps(FUNCTION_JSON, indent=2) + "\n")
        (folder / "__init__.py").write_text(INIT_PY, encoding="utf-8")
    return app


def parse_args() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--idle", type=float, default=2.0, help="seconds idle before RSS")
    parser.add_argument("--timeout", type=float, default=30.0, help="max seconds to first 200")
    args = parser.parse_args()
    if args.runs < 1:
        parser.error("--runs must be 1 or more")
    return args


def time_import() -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-c", "import uvicorn, azure.functions"],
        check=True,
        timeout=60,
        stdin=subprocess.DEVNULL,
    )
    return time.perf_counter() - started


def time_server(spec: h.ServerSpec, log_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = h.Server(spec, log_dir)
    server.start()
    try:
        ttfr = server.wait_ready(timeout=args.timeout, interval=0.001)
        time.sleep(args.idle)
        rss = server.rss()
    finally:
        server.stop()
    if rss is None:
        raise h.BenchError(f"{spec.label} was gone before its RSS was read; log {server.log_path}")
    return {
        "ttfr_s": ttfr,
        "idle_rss_mib": rss / h.MIB,
        "exit_code": server.returncode,
        "stopped_cleanly": server.stopped_cleanly,
        "log": str(server.log_path),
    }


def stats(values: list[float]) -> dict[str, float]:
    return {"median": h.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    args = parse_args()
    h.install_signal_handlers()
    run_stamp = h.stamp()
    info = h.machine_info()
    h.say(h.describe_source(info["source"]))
    log_dir = h.log_dir_for("cold", run_stamp)
    imports: list[float] = []
    raw_runs: list[dict[str, Any]] = []
    fh_runs: list[dict[str, Any]] = []
    with h.temp_dir("funchost-bench-cold-") as tmp:
        app = generate_app(tmp)
        raw = h.raw_asgi_spec("raw")
        fh = h.funchost_spec(
            "funchost",
            "funchost start (20 functions)",
            app,
            command="start",
            path=f"/api/{PROBE_FUNCTION}",
        )
        h.say(f"cold_start: {args.runs} run(s); generated app {app}; logs in {log_dir}")
        steps = ["import", "raw", "funchost"]
        for run in range(args.runs):
            order = steps[run % 3 :] + steps[: run % 3]
            parts = []
            for step in order:
                if step == "import":
                    imports.append(time_import())
                    parts.append(f"import {imports[-1]:.3f}s")
                elif step == "raw":
                    raw_runs.append(time_server(raw, log_dir / f"run{run + 1}", args))
                    r = raw_runs[-1]
                    parts.append(f"raw {r['ttfr_s']:.3f}s {r['idle_rss_mib']:.1f}MiB")
                else:
                    fh_runs.append(time_server(fh, log_dir / f"run{run + 1}", args))
                    r = fh_runs[-1]
                    parts.append(f"funchost {r['ttfr_s']:.3f}s {r['idle_rss_mib']:.1f}MiB")
            h.say(f"  run {run + 1}/{args.runs}: " + ", ".join(parts))

    summary = {
        "import_s": stats(imports),
        "raw_ttfr_s": stats([r["ttfr_s"] for r in raw_runs]),
        "funchost_ttfr_s": stats([r["ttfr_s"] for r in fh_runs]),
        "raw_idle_rss_mib": stats([r["idle_rss_mib"] for r in raw_runs]),
        "funchost_idle_rss_mib": stats([r["idle_rss_mib"] for r in fh_runs]),
    }
    ratio_ttfr = summary["funchost_ttfr_s"]["median"] / summary["raw_ttfr_s"]["median"]
    ratio_rss = summary["funchost_idle_rss_mib"]["median"] / summary["raw_idle_rss_mib"]["median"]
    ttfr_ok = summary["funchost_ttfr_s"]["median"] <= TARGET_TTFR_S
    rss_ok = summary["funchost_idle_rss_mib"]["max"] <= TARGET_RSS_MIB
    unclean = [r for r in raw_runs + fh_runs if not r["stopped_cleanly"]]

    labels = {
        "import_s": 'python -c "import uvicorn, azure.functions"  (s)',
        "raw_ttfr_s": "raw ASGI on uvicorn: time to first 200  (s)",
        "funchost_ttfr_s": f"funchost start, 20 functions: first 200 /api/{PROBE_FUNCTION}  (s)",
        "raw_idle_rss_mib": "raw ASGI on uvicorn: idle RSS  (MiB)",
        "funchost_idle_rss_mib": "funchost start, 20 functions: idle RSS  (MiB)",
    }
    h.say()
    h.say(f"Results over {args.runs} run(s):")
    rows = [
        [labels[key]]
        + [h.fmt(s[k], 3 if key.endswith("_s") else 1) for k in ("median", "min", "max")]
        for key, s in summary.items()
    ]
    h.say(h.text_table(["measure", "median", "min", "max"], rows))
    h.say()
    h.say(
        f"funchost/raw-uvicorn (medians): time to first response {ratio_ttfr:.2f}x, "
        f"idle RSS {ratio_rss:.2f}x"
    )
    h.say(
        h.text_table(
            ["target", "got", "verdict"],
            [
                [
                    f"funchost median time to first response <= {TARGET_TTFR_S:.1f} s",
                    f"{summary['funchost_ttfr_s']['median']:.3f} s",
                    h.verdict(ttfr_ok),
                ],
                [
                    f"funchost idle RSS (max over runs) <= {TARGET_RSS_MIB:.0f} MiB",
                    f"{summary['funchost_idle_rss_mib']['max']:.1f} MiB",
                    h.verdict(rss_ok),
                ],
            ],
        )
    )
    if unclean:
        h.say(f"NOTE: {len(unclean)} server(s) did not stop cleanly: {unclean}")

    data = {
        "benchmark": "cold_start",
        "machine": info,
        "params": vars(args),
        "function_count": FUNCTION_COUNT,
        "probe": f"/api/{PROBE_FUNCTION}",
        "import_runs_s": imports,
        "raw_runs": raw_runs,
        "funchost_runs": fh_runs,
        "summary": summary,
        "ratios": {"ttfr_funchost_over_raw": ratio_ttfr, "rss_funchost_over_raw": ratio_rss},
        "targets": {
            "funchost_ttfr_median_s": TARGET_TTFR_S,
            "funchost_idle_rss_mib": TARGET_RSS_MIB,
        },
        "checks": {"ttfr": h.verdict(ttfr_ok), "idle_rss": h.verdict(rss_ok)},
    }
    data["source_check"] = h.check_source_unchanged(info["source"])
    path = h.write_json("cold", run_stamp, data)
    h.say()
    h.say(f"JSON: {path}")
    h.say()
    h.say("Markdown:")
    h.say()
    imp = summary["import_s"]["median"]
    md_rows = [
        [
            *h.machine_cells(info),
            str(args.runs),
            "raw ASGI on uvicorn",
            h.fmt(summary["raw_ttfr_s"]["median"], 3),
            h.fmt(summary["raw_idle_rss_mib"]["median"], 1),
            h.fmt(imp, 3),
            "1.00",
        ],
        [
            *h.machine_cells(info),
            str(args.runs),
            "funchost start, 20 v1 functions",
            h.fmt(summary["funchost_ttfr_s"]["median"], 3),
            h.fmt(summary["funchost_idle_rss_mib"]["median"], 1),
            h.fmt(imp, 3),
            f"{ratio_ttfr:.2f}",
        ],
    ]
    headers = [
        *h.MACHINE_HEADERS,
        "Runs",
        "Server",
        "First 200 (s, median)",
        "Idle RSS (MiB, median)",
        "Import uvicorn+azure.functions (s)",
        "First 200 vs raw",
    ]
    h.say(h.markdown_table(headers, md_rows))
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except h.BenchError as exc:
        print(f"cold_start: error: {exc}", file=sys.stderr)
        sys.exit(1)
