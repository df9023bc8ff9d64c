"""Cold start and idle memory: `funchost start` on a 20-function v1 app vs raw ASGI on uvicorn.

    .venv/bin/python bench/cold_start.py [--runs 5]

Each run, in a rotating order:
  import     time for `python -c "import uvicorn, azure.functions"` to finish   (baseline)
  raw        raw ASGI app on uvicorn: time to first 200 on GET /, idle RSS      (baseline)
  reload     `funchost start <generated app>` (reload on: a supervisor, multiprocessing's
             resource tracker and the serving child): first 200 on GET /api/Func07, idle RSS
  no-reload  `funchost start <generated app> --no-reload` (one process): the same
  no-endpoint  the same with FUNCHOST_STORAGE_ENDPOINT=false: what serving the embedded store
             as Azure Storage (on by default: the app's AzureWebJobsStorage is empty) costs at
             start; target <= 30 ms
Time to first response runs from just before the process is spawned until a GET (fresh
connection each try, 1 ms between tries) answers 200. Then one GET on a kept-alive connection
finds the serving process (the one holding the server end of that connection). Idle RSS,
read after 2 s without requests, is the sum of VmRSS (/proc/<pid>/status) over the started
process and all its live descendants; the serving process's own VmRSS is reported as well.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import harness as h

FUNCTION_COUNT = 20
PROBE_FUNCTION = "Func07"
TARGET_TTFR_S = 1.0
TARGET_RSS_MIB = 80.0
# What serving the embedded store's endpoint may add to the first response (issue 18).
TARGET_ENDPOINT_COST_S = 0.030

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


@dataclass(frozen=True)
class Variant:
    """One server measured each run."""

    key: str  # prefix of its keys in the JSON
    step: str  # its name in the per-run progress lines
    name: str  # its name in the table, the ratios and the targets
    spec: h.ServerSpec
    checked: bool  # held to the targets

    @property
    def label(self) -> str:
        return self.name if not self.checked else f"{self.name}, {FUNCTION_COUNT} functions"

    @property
    def md_label(self) -> str:
        return self.name if not self.checked else f"{self.name}, {FUNCTION_COUNT} v1 functions"


def variants(app: Path) -> list[Variant]:
    probe = f"/api/{PROBE_FUNCTION}"
    return [
        Variant("raw", "raw", "raw ASGI on uvicorn", h.raw_asgi_spec("raw"), checked=False),
        Variant(
            "funchost_reload",
            "reload",
            "funchost start",
            h.funchost_spec(
                "start", "funchost start (20 functions)", app, command="start", path=probe
            ),
            checked=True,
        ),
        Variant(
            "funchost_no_reload",
            "no-reload",
            "funchost start --no-reload",
            h.funchost_spec(
                "start-no-reload",
                "funchost start --no-reload (20 functions)",
                app,
                command="start",
                path=probe,
                extra_args=("--no-reload",),
            ),
            checked=True,
        ),
        Variant(
            "funchost_no_endpoint",
            "no-endpoint",
            "funchost start --no-reload, storage endpoint off",
            replace(
                h.funchost_spec(
                    "start-no-endpoint",
                    "funchost start --no-reload, FUNCHOST_STORAGE_ENDPOINT=false",
                    app,
                    command="start",
                    path=probe,
                    extra_args=("--no-reload",),
                ),
                env={"FUNCHOST_STORAGE_ENDPOINT": "false"},
            ),
            checked=False,
        ),
    ]


def time_server(spec: h.ServerSpec, log_dir: Path, args: argparse.Namespace) -> dict[str, Any]:
    server = h.Server(spec, log_dir)
    server.start()
    try:
        ttfr = server.wait_ready(timeout=args.timeout, interval=0.001)
        serving = server.serving_pid()
        time.sleep(args.idle)
        tree = server.rss_tree()
        commands = {pid: h.command_line(pid) for pid in tree.by_pid} if tree else {}
    finally:
        server.stop()
    if tree is None or server.pid not in tree.by_pid:
        raise h.BenchError(f"{spec.label} was gone before its RSS was read; log {server.log_path}")
    if serving is None and tree.processes == 1:
        serving = server.pid  # no children: the process itself serves
    if serving is None or serving not in tree.by_pid:
        raise h.BenchError(
            f"{spec.label}: could not tell which of its processes {sorted(tree.by_pid)} serves "
            f"(found {serving}); log {server.log_path}"
        )
    return {
        "ttfr_s": ttfr,
        "idle_rss_mib": tree.total / h.MIB,
        "serving_rss_mib": tree.by_pid[serving] / h.MIB,
        "processes": tree.processes,
        "started_pid": server.pid,
        "serving_pid": serving,
        "process_rss": [
            {
                "pid": pid,
                "rss_mib": rss / h.MIB,
                "serving": pid == serving,
                "command": commands[pid],
            }
            for pid, rss in tree.by_pid.items()
        ],
        "exit_code": server.returncode,
        "stopped_cleanly": server.stopped_cleanly,
        "leftover": server.leftover,
        "log": str(server.log_path),
    }


def stats(values: list[float]) -> dict[str, float]:
    return {"median": h.median(values), "min": min(values), "max": max(values)}


def main() -> int:
    args = parse_args()
    run_stamp, info, log_dir = h.begin("cold")
    imports: list[float] = []
    with h.temp_dir("funchost-bench-cold-") as tmp:
        app = generate_app(tmp)
        servers = variants(app)
        runs: dict[str, list[dict[str, Any]]] = {v.key: [] for v in servers}
        h.say(f"cold_start: {args.runs} run(s); generated app {app}; logs in {log_dir}")
        steps: list[Variant | None] = [None, *servers]  # None: the import baseline
        for run in range(args.runs):
            shift = run % len(steps)
            order = steps[shift:] + steps[:shift]
            parts = []
            for step in order:
                if step is None:
                    imports.append(time_import())
                    parts.append(f"import {imports[-1]:.3f}s")
                    continue
                r = time_server(step.spec, log_dir / f"run{run + 1}", args)
                runs[step.key].append(r)
                serving = (
                    f" (serving {r['serving_rss_mib']:.1f}MiB, {r['processes']} processes)"
                    if r["processes"] > 1
                    else ""
                )
                parts.append(f"{step.step} {r['ttfr_s']:.3f}s {r['idle_rss_mib']:.1f}MiB{serving}")
            h.say(f"  run {run + 1}/{args.runs}: " + ", ".join(parts))

    raw = servers[0]
    checked = [v for v in servers if v.checked]
    summary: dict[str, dict[str, float]] = {"import_s": stats(imports)}
    labels = {"import_s": 'python -c "import uvicorn, azure.functions"  (s)'}
    measures = [
        ("ttfr_s", "time to first 200  (s)"),
        ("idle_rss_mib", "idle RSS, all processes  (MiB)"),
        ("serving_rss_mib", "idle RSS, serving process  (MiB)"),
        ("processes", "processes at idle"),
    ]
    for measure, text in measures:
        for v in servers:
            key = f"{v.key}_{measure}"
            summary[key] = stats([r[measure] for r in runs[v.key]])
            what = text
            if measure == "ttfr_s" and v is not raw:
                what = f"first 200 /api/{PROBE_FUNCTION}  (s)"
            labels[key] = f"{v.label}: {what}"
    ratios: dict[str, float] = {}
    checks: dict[str, dict[str, str]] = {}
    for v in servers[1:]:
        ratios[f"ttfr_{v.key}_over_raw"] = (
            summary[f"{v.key}_ttfr_s"]["median"] / summary["raw_ttfr_s"]["median"]
        )
        ratios[f"rss_{v.key}_over_raw"] = (
            summary[f"{v.key}_idle_rss_mib"]["median"] / summary["raw_idle_rss_mib"]["median"]
        )
    for v in checked:
        checks[v.key] = {
            "ttfr": h.verdict(summary[f"{v.key}_ttfr_s"]["median"] <= TARGET_TTFR_S),
            "idle_rss": h.verdict(summary[f"{v.key}_idle_rss_mib"]["max"] <= TARGET_RSS_MIB),
        }
    unclean = [r for v in servers for r in runs[v.key] if not r["stopped_cleanly"]]

    h.say()
    h.say(f"Results over {args.runs} run(s):")

    def digits(key: str) -> int:
        if key.endswith("_s"):
            return 3
        return 0 if key.endswith("_processes") else 1

    rows = [
        [labels[key]] + [h.fmt(s[k], digits(key)) for k in ("median", "min", "max")]
        for key, s in summary.items()
    ]
    h.say(h.text_table(["measure", "median", "min", "max"], rows))
    h.say()
    for v in checked:
        h.say(
            f"{v.name}/raw-uvicorn (medians): time to first response "
            f"{ratios[f'ttfr_{v.key}_over_raw']:.2f}x, idle RSS (all processes) "
            f"{ratios[f'rss_{v.key}_over_raw']:.2f}x"
        )
    target_rows = []
    for v in checked:
        name = v.name
        target_rows += [
            [
                f"{name}: median time to first response <= {TARGET_TTFR_S:.1f} s",
                f"{summary[f'{v.key}_ttfr_s']['median']:.3f} s",
                checks[v.key]["ttfr"],
            ],
            [
                f"{name}: idle RSS, all processes (max over runs) <= {TARGET_RSS_MIB:.0f} MiB",
                f"{summary[f'{v.key}_idle_rss_mib']['max']:.1f} MiB",
                checks[v.key]["idle_rss"],
            ],
        ]
    endpoint_cost = (
        summary["funchost_no_reload_ttfr_s"]["median"]
        - summary["funchost_no_endpoint_ttfr_s"]["median"]
    )
    checks["storage_endpoint"] = {"cost": h.verdict(endpoint_cost <= TARGET_ENDPOINT_COST_S)}
    target_rows.append(
        [
            "the storage endpoint adds <= 30 ms to the first response (--no-reload, medians)",
            f"{endpoint_cost * 1000:+.1f} ms",
            checks["storage_endpoint"]["cost"],
        ]
    )
    h.say(h.text_table(["target", "got", "verdict"], target_rows))
    if unclean:
        h.say(f"NOTE: {len(unclean)} server(s) did not stop cleanly: {unclean}")

    data = {
        "benchmark": "cold_start",
        "machine": info,
        "params": vars(args),
        "function_count": FUNCTION_COUNT,
        "probe": f"/api/{PROBE_FUNCTION}",
        "servers": {v.key: {"label": v.spec.label, "command": list(v.spec.argv)} for v in servers},
        "idle_rss": (
            "idle_rss_mib: sum of VmRSS over the started process and its live descendants "
            "(pages shared between them are counted in each); serving_rss_mib: VmRSS of the "
            "process holding the server end of an accepted connection"
        ),
        "import_runs_s": imports,
        **{f"{v.key}_runs": runs[v.key] for v in servers},
        "summary": summary,
        "ratios": ratios,
        "targets": {
            "funchost_ttfr_median_s": TARGET_TTFR_S,
            "funchost_idle_rss_mib": TARGET_RSS_MIB,
            "storage_endpoint_cost_s": TARGET_ENDPOINT_COST_S,
            "applies_to": [v.key for v in checked],
        },
        "checks": checks,
    }
    imp = summary["import_s"]["median"]
    md_rows = [
        [
            str(args.runs),
            v.md_label,
            h.fmt(summary[f"{v.key}_ttfr_s"]["median"], 3),
            h.fmt(summary[f"{v.key}_idle_rss_mib"]["median"], 1),
            h.fmt(summary[f"{v.key}_serving_rss_mib"]["median"], 1),
            h.fmt(summary[f"{v.key}_processes"]["median"], 0),
            h.fmt(imp, 3),
            "1.00" if v is raw else f"{ratios[f'ttfr_{v.key}_over_raw']:.2f}",
        ]
        for v in servers
    ]
    md_headers = [
        "Runs",
        "Server",
        "First 200 (s, median)",
        "Idle RSS, all processes (MiB, median)",
        "Idle RSS, serving process (MiB, median)",
        "Processes",
        "Import uvicorn+azure.functions (s)",
        "First 200 vs raw",
    ]
    h.report("cold", run_stamp, info, data, md_headers, md_rows)
    return 0


if __name__ == "__main__":
    h.run_main(main, "cold_start")
