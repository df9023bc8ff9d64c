"""The v1 and v2 examples of each trigger's page in docs/ run as written: each page's code is
assembled into a v1 app (its function folders) and a v2 app (one function_app.py), and driven
with TestHost."""

from __future__ import annotations

import re
from datetime import timedelta
from pathlib import Path

import pytest

from funchost.testing import TestHost

DOCS = Path(__file__).resolve().parents[2] / "docs"
PAGES = ("http-trigger", "queue-trigger", "blob-trigger", "timer-trigger", "warmup-trigger")
BLOCK = re.compile(r"```(python|json)\n(.*?)```", re.DOTALL)
HEADER = "app = func.FunctionApp()\n"


def example_files() -> dict[str, str]:
    """Each example block, by the file its first line names (`# function_app.py`,
    `// hello/function.json`); the v2 blocks joined into one function_app.py."""
    files: dict[str, str] = {}
    imports: list[str] = []
    functions: list[str] = []
    for page in PAGES:
        for _, code in BLOCK.findall((DOCS / f"{page}.md").read_text()):
            first, _, rest = code.partition("\n")
            name = first.removeprefix("# ").removeprefix("// ")
            if name == "function_app.py":
                head, _, body = rest.partition(HEADER)
                imports += [line for line in head.splitlines() if line and line not in imports]
                functions.append(body.strip())
            elif name.endswith(("/function.json", "/__init__.py")):
                files[f"v1/{name}"] = rest
    files["v2/function_app.py"] = (
        "\n".join(imports) + "\n\n" + HEADER + "\n\n".join(["", *functions])
    )
    return files


def test_every_trigger_page_has_a_v1_and_a_v2_example() -> None:
    files = example_files()
    folders = {name.split("/")[1] for name in files if name.startswith("v1/")}
    assert folders == {"hello", "process_order", "thumbnail", "nightly", "warmup"}
    assert all(f"v1/{f}/__init__.py" in files and f"v1/{f}/function.json" in files for f in folders)
    assert files["v2/function_app.py"].count("\ndef ") == 5


@pytest.mark.parametrize("model", ["v1", "v2"])
def test_the_examples_run(tmp_path: Path, model: str) -> None:
    for name, text in example_files().items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    app = tmp_path / model
    (app / "host.json").write_text('{"version": "2.0"}')
    with TestHost(app) as host:
        assert host.client.get("/api/hello/ann").text == "Hello, ann!"
        assert host.client.post("/api/hello?name=bo").text == "Hello, bo!"
        assert host.client.get("/api/hello").text == "Hello, world!"
        host.queue("orders").send('{"id": 7}')
        host.blob("uploads/cat.png").upload(b"png")
        host.run_until_idle()
        assert host.queue("orders-done").peek() == ['{"id": 7, "status": "done"}']
        assert host.blob("processed/cat.png").read() == b"png"
        host.clock.advance(timedelta(minutes=5))
        host.run_until_idle()
        assert host.client.get("/admin/warmup").status_code == 200
        done = {i.function: i.outcome for i in host.invocations}
        assert done == {
            "process_order": "succeeded",
            "thumbnail": "succeeded",
            "nightly": "succeeded",
        }
        lines = {record.getMessage() for record in host.logs}
        assert {"order 7, attempt 1", "five-minute job", "warming up: filling caches"} <= lines
