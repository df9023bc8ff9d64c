"""Loading a version beside the running one: `python -m funchost.publishing.check APP CODE OUT`
indexes CODE as the code of the app APP (with the settings `serve` runs it with) and writes
the functions that loaded, and those that did not with why, to OUT as JSON.

A process of its own, because importing an app's modules changes `sys.modules` and `sys.path`
for good: the running host must not see the new code before it switches to it.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path
from typing import Any

from funchost.config import PRODUCTION, load_config
from funchost.errors import ConfigError


def check(app_dir: str, code: str) -> dict[str, Any]:
    from funchost.indexing.index import index_app

    try:
        config = load_config(app_dir, mode=PRODUCTION, code_dir=Path(code))
        index = index_app(config)
    except ConfigError as exc:
        return {"functions": [], "errors": [{"function": "", "file": "", "reason": str(exc)}]}
    return {
        "functions": [spec.name for spec in index.functions],
        "errors": [
            {"function": f.name, "file": os.path.relpath(f.file, code), "reason": f.reason}
            for f in index.failed
        ],
    }


def main(argv: list[str]) -> int:
    app_dir, code, output = argv
    report = check(app_dir, code)
    Path(output).write_text(json.dumps(report), encoding="utf-8")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
