"""Serve an ASGI app from bench/apps on funchost's own HTTP server (funchost.http.server),
one process, as `funchost serve` runs the host:

    python bench/apps/on_funchost_server.py raw_asgi:app PORT
"""

import importlib
import sys
from pathlib import Path

from funchost.http.server import HttpServer
from funchost.supervisor import listening_socket

sys.path.insert(0, str(Path(__file__).resolve().parent))
module_name, _, attr = sys.argv[1].partition(":")
app = getattr(importlib.import_module(module_name), attr)
raise SystemExit(HttpServer(app).run(listening_socket("127.0.0.1", int(sys.argv[2]))))
