"""Who is measured, and with which options each one's worker runs.

(a) raw reva, the limit; (b) this manager in-process and over HTTP; (c) cs3-jupyter 0.2.0
in-process (inside its own virtualenv) and over HTTP; (d) jupyter_server's
AsyncLargeFileManager on local disk, in-process and over HTTP (no network at all).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.harness.reva import DEMO_USERS

from . import cs3jupyter_env
from .stack import CS3_ROOT, LOCAL_MANAGER, USER, Stack

REPO = Path(__file__).resolve().parent.parent
OURS = "cs3_contents_manager.CS3LargeFileManager"


@dataclass(frozen=True)
class Contender:
    key: str
    label: str
    group: str  # a, b, c or d, as in issue #6
    mode: str  # "in-process" or "HTTP"
    runner: str  # a key of worker.RUNNERS
    server: str = ""  # the Stack server it talks to (HTTP), or whose manager it runs
    venv: str = ""  # "cs3jupyter": run in that virtualenv

    @property
    def python(self) -> Path:
        return cs3jupyter_env.python() if self.venv == "cs3jupyter" else Path(sys.executable)


CONTENDERS = [
    Contender("raw", "(a) raw reva", "a", "in-process", "raw"),
    Contender("ours", "(b) this manager", "b", "in-process", "manager", "ours"),
    Contender("ours-http", "(b) this manager, HTTP", "b", "HTTP", "http", "ours"),
    Contender(
        "cs3jupyter", "(c) cs3-jupyter 0.2.0", "c", "in-process", "manager", "cs3jupyter", "cs3jupyter"
    ),
    Contender("cs3jupyter-http", "(c) cs3-jupyter 0.2.0, HTTP", "c", "HTTP", "http", "cs3jupyter"),
    Contender("local", "(d) local disk", "d", "in-process", "manager", "local"),
    Contender("local-http", "(d) local disk, HTTP", "d", "HTTP", "http", "local"),
]
BY_KEY = {c.key: c for c in CONTENDERS}


def options_for(contender: Contender, stack: Stack) -> dict[str, Any]:
    if contender.runner == "raw":
        return {"gateway": stack.reva.gateway, "user": USER, "password": DEMO_USERS[USER], "root": CS3_ROOT}
    if contender.runner == "http":
        server = stack.servers[contender.server]
        assert server.process is not None
        return {"url": server.url, "token": server.token, "pid": server.process.pid}
    if contender.server == "ours":
        config = {
            "CS3FileManagerMixin": {
                "host": stack.reva.gateway,
                "auth_login_type": "basic",
                "client_id": USER,
                "token_path": str(stack.secret),
                "root_path": CS3_ROOT,
            }
        }
        return {"class": OURS, "config": config}
    if contender.server == "cs3jupyter":
        config = cs3jupyter_env.manager_settings(stack.reva.gateway, CS3_ROOT, stack.secret, USER)
        return {"class": cs3jupyter_env.MANAGER_CLASS, "config": config}
    return {"class": LOCAL_MANAGER, "kwargs": {"root_dir": str(stack.local_root)}}
