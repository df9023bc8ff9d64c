"""`funchost init`: the files of a new Python function app, laid out as Core Tools lays them out.

Files that exist are never touched: each is reported with Core Tools' own line,
"<file> already exists. Skipped!", so `init` is safe to run in a folder that has an app already
(to add a Dockerfile, or the files a copied app lacks).
"""

from __future__ import annotations

import json
import sys
from collections.abc import Callable
from pathlib import Path

V1 = "v1"
V2 = "v2"
MODELS = (V1, V2)

# host.json as Core Tools writes it for a Python app: its logging block and the extension
# bundle (funchost needs neither, but the same file deploys to Azure unchanged).
HOST_JSON = {
    "version": "2.0",
    "logging": {
        "applicationInsights": {
            "samplingSettings": {"isEnabled": True, "excludedTypes": "Request"},
        },
    },
    "extensionBundle": {
        "id": "Microsoft.Azure.Functions.ExtensionBundle",
        "version": "[4.*, 5.0.0)",
    },
}

# An empty AzureWebJobsStorage: funchost keeps queues, blobs and timer state in its embedded
# store (Core Tools writes UseDevelopmentStorage=true, which funchost also serves).
LOCAL_SETTINGS = {
    "IsEncrypted": False,
    "Values": {"FUNCTIONS_WORKER_RUNTIME": "python", "AzureWebJobsStorage": ""},
}

REQUIREMENTS = """\
# The packages the app imports; Azure installs them from this file when the app is published.
# Install them locally with: pip install -r requirements.txt

azure-functions
"""

# What `func azure functionapp publish` (and `funchost pack`) leave out of the package: the
# entries Core Tools and the VS Code extension write for a Python app, and tests/, where
# `funchost new` puts the tests it writes.
FUNCIGNORE = """\
.git*
.vscode
__azurite_db*__.json
__blobstorage__
__queuestorage__
local.settings.json
test
tests
.venv
"""

GITIGNORE = """\
# Python
__pycache__/
*.py[cod]
.pytest_cache/

# Virtual environments
.venv
venv/

# Packages installed for publishing
.python_packages/

# Local settings hold secrets: never commit them
local.settings.json

# funchost's embedded store and state
.funchost/
"""

FUNCTION_APP = """\
import azure.functions as func

app = func.FunctionApp()
"""

DOCKERIGNORE = """\
.git
.venv
__pycache__
.funchost
local.settings.json
"""


def dockerfile() -> str:
    """A Dockerfile serving the app with `funchost serve` on the running Python's version."""
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    return f"""\
# The function app served by funchost in production mode (settings from the environment,
# function keys checked), on port 8080.
#   docker build -t my-function-app .
#   docker run -p 8080:8080 my-function-app
# Until funchost is on the package index, copy a built wheel of it into this folder and build
# with: docker build --build-arg FUNCHOST=./funchost-<version>-py3-none-any.whl .
FROM python:{version}-slim

ENV PYTHONDONTWRITEBYTECODE=1 \\
    PYTHONUNBUFFERED=1 \\
    PIP_NO_CACHE_DIR=1 \\
    PIP_DISABLE_PIP_VERSION_CHECK=1

ARG FUNCHOST=funchost

# A user of its own: the app folder is the only place it writes (the embedded store's
# .funchost/), with its function keys in its home.
RUN useradd --create-home --uid 1000 app && install -d -o app -g app /home/app/wwwroot
WORKDIR /home/app/wwwroot

COPY requirements.txt .
RUN pip install -r requirements.txt

COPY --chown=app:app . .
RUN pip install "$FUNCHOST"

USER app
EXPOSE 8080
CMD ["funchost", "serve", ".", "--host", "0.0.0.0", "--port", "8080"]
"""


def _json(data: object) -> str:
    return json.dumps(data, indent=2) + "\n"


def write_if_missing(path: Path, text: str, say: Callable[[str], None], shown: str) -> bool:
    """Write `text` to `path` unless it exists; say which, as Core Tools does."""
    if path.exists():
        say(f"{shown} already exists. Skipped!")
        return False
    path.parent.mkdir(parents=True, exist_ok=True)
    say(f"Writing {shown}")
    with open(path, "x", encoding="utf-8", newline="\n") as f:
        f.write(text)
    return True


def init_project(
    app_dir: Path, model: str = V2, docker: bool = False, say: Callable[[str], None] = print
) -> None:
    """Write the files of a new app into `app_dir` (made if missing), skipping existing ones."""
    app_dir.mkdir(parents=True, exist_ok=True)
    files: list[tuple[str, str]] = [("requirements.txt", REQUIREMENTS)]
    if model == V2:
        files.append(("function_app.py", FUNCTION_APP))
    files += [
        (".funcignore", FUNCIGNORE),
        (".gitignore", GITIGNORE),
        ("host.json", _json(HOST_JSON)),
        ("local.settings.json", _json(LOCAL_SETTINGS)),
    ]
    if docker:
        files += [("Dockerfile", dockerfile()), (".dockerignore", DOCKERIGNORE)]
    for name, text in files:
        write_if_missing(app_dir / name, text, say, name)
