"""The hub's database URL, with the password from the environment.

The chart hands the password over as `CS3HUB_DB_PASSWORD` (from the site's Secret) rather than
in the values tree, which admins read and diff. It has to end up in the URL itself: besides the
hub's own engine, `jupyterhub upgrade-db` hands the URL alone to alembic, which sees no
connection arguments. JupyterHub redacts the password when it logs the URL.
"""

from __future__ import annotations

import os

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

from hub_config.values import SettingsError

PASSWORD_ENV = "CS3HUB_DB_PASSWORD"


# SQLAlchemy's default driver of `mysql://` is mysqlclient, a C extension the hub image does
# not build; PyMySQL speaks the same protocol.
DEFAULT_DRIVERS = {"mysql": "mysql+pymysql", "mariadb": "mariadb+pymysql"}


def database_url(url: str, password: str | None = None) -> str:
    """`url` with `password` (default: $CS3HUB_DB_PASSWORD) set, any characters quoted, and
    the driver the hub image has where the URL names none."""
    password = os.environ.get(PASSWORD_ENV) if password is None else password
    try:
        parsed = make_url(url)
    except ArgumentError as err:
        raise SettingsError(f"hub setting 'hub.db.url' is not a database URL: {err}") from None
    if parsed.drivername in DEFAULT_DRIVERS:
        parsed = parsed.set(drivername=DEFAULT_DRIVERS[parsed.drivername])
    elif not password:
        return url
    if password:
        if parsed.drivername.startswith("sqlite"):
            raise SettingsError("hub setting 'hub.db.password' is set, but SQLite takes no password")
        parsed = parsed.set(password=password)
    return parsed.render_as_string(hide_password=False)
