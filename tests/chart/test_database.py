"""The hub's database URL gets the password from the environment, quoted, never for SQLite."""

from __future__ import annotations

import pytest
from sqlalchemy.engine import make_url

from hub_config.database import database_url
from hub_config.values import SettingsError


@pytest.mark.parametrize(
    "url",
    [
        "postgresql://jupyterhub@db.example.org:5432/jupyterhub",
        "mysql+pymysql://hub@db:3306/hub?charset=utf8mb4",
    ],
)
def test_the_password_is_set_and_quoted(url: str) -> None:
    password = "p@ss/w:rd?#%"
    with_password = database_url(url, password)
    parsed = make_url(with_password)
    assert parsed.password == password
    original = make_url(url)
    for part in ("drivername", "username", "host", "port", "database", "query"):
        assert getattr(parsed, part) == getattr(original, part), part
    assert password not in with_password, "special characters are quoted"


def test_no_password_leaves_the_url(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("CS3HUB_DB_PASSWORD", raising=False)
    assert (
        database_url("sqlite:////srv/jupyterhub/jupyterhub.sqlite")
        == "sqlite:////srv/jupyterhub/jupyterhub.sqlite"
    )
    monkeypatch.setenv("CS3HUB_DB_PASSWORD", "from-the-secret")
    assert make_url(database_url("postgresql://hub@db/hub")).password == "from-the-secret"


def test_a_password_for_sqlite_or_a_bad_url_is_named() -> None:
    with pytest.raises(SettingsError, match="SQLite takes no password"):
        database_url("sqlite:///hub.sqlite", "x")
    with pytest.raises(SettingsError, match=r"hub\.db\.url"):
        database_url("db.example.org/hub", "x")


def test_mysql_without_a_driver_gets_the_images_own() -> None:
    assert make_url(database_url("mysql://hub@db/hub", "")).drivername == "mysql+pymysql"
    assert make_url(database_url("mysql://hub@db/hub", "pw")).password == "pw"
    assert make_url(database_url("mysql+pymysql://hub@db/hub", "")).drivername == "mysql+pymysql"
