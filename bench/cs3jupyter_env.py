"""cs3-jupyter 0.2.0 from PyPI, the upstream release (cs3org/jupyter-client), in a virtualenv of
its own under build/: its dependencies (cs3client, requests, its own jupyter_server pins) never
meet this project's.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
REQUIREMENT = "cs3-jupyter==0.2.0"
VENV = REPO / "build" / "bench-venv-cs3jupyter"
MANAGER_CLASS = "cs3_jupyter.cs3largefilemanager.CS3LargeFileManager"


def python() -> Path:
    return VENV / "bin" / "python"


def ensure() -> Path:
    """Create the virtualenv and install cs3-jupyter once; return its interpreter."""
    marker = VENV / f".installed-{REQUIREMENT}"
    if marker.exists():
        return python()
    print(f"installing {REQUIREMENT} into {VENV} ...", file=sys.stderr, flush=True)
    if not python().exists():
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
    pip = [str(python()), "-m", "pip", "install", "--quiet", "--disable-pip-version-check"]
    subprocess.run([*pip, "--upgrade", "pip"], check=True)
    subprocess.run([*pip, REQUIREMENT], check=True)
    marker.touch()
    return python()


def manager_settings(gateway: str, root: str, secret: Path, user: str) -> dict[str, dict[str, object]]:
    """Its configuration: the same `CS3FileManagerMixin.*` names as the seed's.

    The test reva's local storage has no CS3 locks and answers SetLock with INTERNAL (not the
    UNIMPLEMENTED cs3client falls back on), so every save fails with the seed's lock settings;
    `lock_not_impl` with `lock_by_setting_attr` is cs3-jupyter's own switch to advisory
    attribute locks, the configuration under which it works here at all.
    """
    return {
        "CS3FileManagerMixin": {
            "host": gateway,
            "tus_enabled": False,
            "ssl_enabled": False,
            "token_path": str(secret),
            "auth_login_type": "basic",
            "client_id": user,
            "authtokenvalidity": 3600,
            "lock_not_impl": True,
            "lock_by_setting_attr": True,
            "root_path": root,
        }
    }
