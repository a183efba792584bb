"""The server side of `cs3://`: every kernel knows the storage and its notebook's folder.

jupyter_server tells a kernel which notebook it runs for in `JPY_SESSION_NAME`, but where a
session names its file (JupyterLab always does) that value is a local path: the notebook's
name joined to the nearest *local* folder, which for a notebook that lives in CS3 is the
server's scratch folder, whatever CS3 folder the notebook is in. The session manager here
adds `CS3FS_NOTEBOOK`, the notebook's path as the file browser shows it, from which
`cs3://` resolves relative paths.
"""

from __future__ import annotations

from typing import Any

from jupyter_server.services.sessions.sessionmanager import SessionManager

from .config import NOTEBOOK_ENV, export, kernel_settings


class CS3SessionManager(SessionManager):
    """jupyter_server's session manager, telling each kernel its notebook's CS3 path."""

    def get_kernel_env(self, path: str | None, name: Any = None) -> dict[str, str]:
        env = super().get_kernel_env(path, name)
        if path is not None:
            env[NOTEBOOK_ENV] = path.strip("/")
        return env


def install(manager: Any) -> None:
    """Called by the contents manager inside a Jupyter server, before any kernel starts:
    export its storage settings to the server's environment (which kernels inherit) and use
    CS3SessionManager unless the site configured a session manager of its own."""
    server = manager.parent
    try:
        settings = kernel_settings(manager)
    except ValueError as err:
        # A root_path the manager cannot fill either: its own requests say so to the user.
        manager.log.warning("cs3:// in kernels is off: %s", err)
    else:
        if settings is None:
            manager.log.info(
                "cs3:// in kernels is off: the storage login is a client_secret, not a "
                "token_path a kernel could read"
            )
        else:
            export(settings)
    try:
        current = server.session_manager_class
    except AttributeError:
        # Its default depends on the gateway settings, which a server that is not
        # initialized yet does not have: leave the choice to the server.
        return
    if current is SessionManager:
        server.session_manager_class = CS3SessionManager
    elif current is not None and not (isinstance(current, type) and issubclass(current, CS3SessionManager)):
        manager.log.info(
            "ServerApp.session_manager_class is %s: relative cs3:// paths in kernels start "
            "from the root, not the notebook's folder (derive it from %s.%s to change that)",
            current,
            __name__,
            CS3SessionManager.__name__,
        )
