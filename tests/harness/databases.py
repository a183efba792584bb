"""PostgreSQL and MariaDB servers for the hub's database tests, each in a folder of its own on a
free loopback port, from Debian's packages (`postgresql`, `mariadb-server`).

Each gets a `jupyterhub` role that logs in over TCP with a password only, as a site's database
server would have it, and an empty `jupyterhub` database. The servers refuse to run as root:
they run as the system users their packages create (`postgres`, `mysql`).
"""

from __future__ import annotations

import os
import pwd
import secrets
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import ClassVar

from .ports import free_port
from .process import ManagedProcess

# Debian installs each major version's programs in a folder of its own.
POSTGRES_BIN = max(Path("/usr/lib/postgresql").glob("*/bin"), default=Path("/usr/lib/postgresql/15/bin"))


class DatabaseError(RuntimeError):
    pass


def _tcp_probe(port: int):
    def probe() -> str | None:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1):
                return None
        except OSError as err:
            return f"port {port}: {err.strerror}"

    return probe


def _home_of(user: str, name: str) -> Path:
    """A private folder of `user` for the server's files: pytest's own temporary folders are
    root's alone, and the server's user could not reach into them."""
    entry = pwd.getpwnam(user)
    path = Path(tempfile.mkdtemp(prefix=f"cs3hub-{name}-"))
    os.chown(path, entry.pw_uid, entry.pw_gid)
    return path


def _as(user: str, argv: list[str], **kwargs: object) -> subprocess.CompletedProcess[str]:
    proc = subprocess.run(
        ["runuser", "-u", user, "--", *argv], capture_output=True, text=True, timeout=120, **kwargs
    )
    if proc.returncode != 0:
        raise DatabaseError(f"{argv[0]} failed ({proc.returncode}): {proc.stdout}{proc.stderr}")
    return proc


@dataclass
class Database(ManagedProcess):
    """A database server; `url` names the `jupyterhub` database without the password."""

    workdir: Path
    port: int = field(default_factory=free_port)
    password: str = field(default_factory=lambda: secrets.token_urlsafe(18) + "@/:%")
    process: subprocess.Popen[bytes] | None = None
    home: Path | None = None
    kind: str = ""
    error: ClassVar[type[Exception]] = DatabaseError
    scheme: ClassVar[str] = ""

    @property
    def log_path(self) -> Path:
        return self.workdir / "server.log"

    @property
    def url(self) -> str:
        return f"{self.scheme}://jupyterhub@127.0.0.1:{self.port}/jupyterhub"

    def stop(self, timeout: float | None = None) -> None:
        super().stop(timeout)
        if self.home is not None:
            shutil.rmtree(self.home, ignore_errors=True)


@dataclass
class Postgres(Database):
    name: ClassVar[str] = "PostgreSQL"
    scheme: ClassVar[str] = "postgresql"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.home = home = _home_of("postgres", "postgres")
        data = home / "data"
        password_file = home / "superuser"
        password_file.write_text(secrets.token_hex(16))
        shutil.chown(password_file, "postgres")
        _as(
            "postgres",
            [
                str(POSTGRES_BIN / "initdb"), "-D", str(data), "-U", "postgres",
                "--auth-local=trust", "--auth-host=scram-sha-256", f"--pwfile={password_file}",
            ],
        )  # fmt: skip
        argv = [
            "runuser", "-u", "postgres", "--", str(POSTGRES_BIN / "postgres"), "-D", str(data),
            "-p", str(self.port), "-k", str(home), "-c", "listen_addresses=127.0.0.1",
        ]  # fmt: skip
        self.spawn(argv, self.workdir)
        self.wait_ready(_tcp_probe(self.port), 60)
        quoted = self.password.replace("'", "''")
        for sql in (
            f"CREATE ROLE jupyterhub LOGIN PASSWORD '{quoted}'",
            "CREATE DATABASE jupyterhub OWNER jupyterhub",
        ):
            psql = [str(POSTGRES_BIN / "psql"), "-h", str(home), "-p", str(self.port)]
            _as("postgres", [*psql, "-v", "ON_ERROR_STOP=1", "-c", sql])


@dataclass
class MariaDB(Database):
    name: ClassVar[str] = "MariaDB"
    # No driver named: the hub picks the one its image has (PyMySQL).
    scheme: ClassVar[str] = "mysql"

    def start(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.home = home = _home_of("mysql", "mariadb")
        data = home / "data"
        socket_path = home / "mysqld.sock"
        subprocess.run(
            ["mariadb-install-db", "--user=mysql", f"--datadir={data}",
             "--auth-root-authentication-method=socket"],
            capture_output=True, text=True, timeout=180, check=True,
        )  # fmt: skip
        argv = [
            "mariadbd", "--no-defaults", "--user=mysql", f"--datadir={data}", f"--socket={socket_path}",
            f"--port={self.port}", "--bind-address=127.0.0.1", f"--pid-file={home / 'mysqld.pid'}",
        ]  # fmt: skip
        self.spawn(argv, self.workdir)
        self.wait_ready(_tcp_probe(self.port), 60)
        quoted = self.password.replace("\\", "\\\\").replace("'", "\\'")
        sql = (
            "CREATE DATABASE jupyterhub CHARACTER SET utf8mb4;"
            f"CREATE USER 'jupyterhub'@'127.0.0.1' IDENTIFIED BY '{quoted}';"
            "GRANT ALL ON jupyterhub.* TO 'jupyterhub'@'127.0.0.1';"
        )
        proc = subprocess.run(
            ["mariadb", f"--socket={socket_path}", "-u", "root", "-e", sql],
            capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        if proc.returncode != 0:
            self.stop()
            raise DatabaseError(f"mariadb setup failed: {proc.stderr}")


def missing_servers() -> str | None:
    """What is missing to run the database servers, as the install command."""
    needed = {"postgresql": POSTGRES_BIN / "postgres", "mariadb-server": Path("/usr/sbin/mariadbd")}
    missing = [pkg for pkg, path in needed.items() if not path.exists()]
    if missing:
        return f"apt-get install -y {' '.join(missing)} (make test installs them)"
    return None
