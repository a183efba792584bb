"""Docker for the image tests: build with images/build.sh, run containers on a private network.

Every call has a timeout. Names carry a random suffix, so two runs on one machine do not
collide, and `DockerStack.close()` removes every container, network and volume it made.
"""

from __future__ import annotations

import os
import re
import secrets
import shutil
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent.parent
BUILD_SCRIPT = REPO / "images" / "build.sh"
IMAGE_PREFIX = "cs3-jupyterhub"
IMAGE_TAG = "smoke"


class DockerError(RuntimeError):
    pass


def docker_unavailable() -> str | None:
    """Why docker cannot be used here, or None when `docker info` answers."""
    cli = shutil.which("docker")
    if cli is None:
        return "the `docker` command is not installed (Debian: apt-get install docker.io)"
    try:
        res = subprocess.run([cli, "info"], capture_output=True, text=True, timeout=30)
    except subprocess.TimeoutExpired:
        return "`docker info` did not answer within 30 s: is dockerd healthy?"
    if res.returncode != 0:
        detail = (res.stderr.strip().splitlines() or ["no message"])[-1]
        return f"`docker info` failed: is dockerd running? ({detail})"
    return None


def docker(*args: str, timeout: float = 60, check: bool = True, input: str | None = None) -> str:
    """Run a docker command and return its stdout; DockerError with stderr when it fails."""
    cmd = ["docker", *args]
    try:
        res = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, input=input)
    except subprocess.TimeoutExpired as err:
        raise DockerError(f"`{' '.join(cmd[:4])} …` did not finish within {timeout:.0f} s") from err
    if check and res.returncode != 0:
        raise DockerError(f"`{' '.join(cmd[:4])} …` failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def image_name(name: str) -> str:
    return f"{IMAGE_PREFIX}-{name}:{IMAGE_TAG}"


def build_images(targets: Sequence[str], log_path: Path, timeout: float) -> dict[str, int]:
    """Run images/build.sh for the targets; return the seconds each step took.

    The base images are reused when they exist and docker's layer cache makes an unchanged
    image a matter of seconds, so this is cheap after the first run on a machine.
    """
    env_vars = {"IMAGE_PREFIX": IMAGE_PREFIX, "IMAGE_TAG": IMAGE_TAG}
    with log_path.open("w") as log:
        try:
            res = subprocess.run(
                [str(BUILD_SCRIPT), *targets],
                cwd=REPO,
                env={**os.environ, **env_vars},
                stdout=subprocess.PIPE,
                stderr=log,
                text=True,
                timeout=timeout,
            )
        except subprocess.TimeoutExpired as err:
            raise DockerError(
                f"images/build.sh did not finish within {timeout:.0f} s\n{tail(log_path)}"
            ) from err
    if res.returncode != 0:
        raise DockerError(f"images/build.sh {' '.join(targets)} failed ({res.returncode})\n{tail(log_path)}")
    timings = {}
    for line in res.stdout.splitlines():
        match = re.fullmatch(r"images-timing (\S+) (\d+)", line.strip())
        if match:
            timings[match[1]] = int(match[2])
    return timings


def tail(path: Path, lines: int = 60) -> str:
    try:
        text = path.read_text(errors="replace").splitlines()
    except FileNotFoundError:
        return f"({path} was not written)"
    return f"--- {path.name} (last {lines} lines) ---\n" + "\n".join(text[-lines:])


@dataclass
class Container:
    name: str

    def exec(self, *cmd: str, user: str | None = None, timeout: float = 60, check: bool = True) -> str:
        args = ["exec", *(["--user", user] if user else []), self.name, *cmd]
        return docker(*args, timeout=timeout, check=check)

    def port(self, container_port: int) -> int:
        """The host port that a `-p 127.0.0.1::<port>` publication got."""
        out = docker("port", self.name, f"{container_port}/tcp", timeout=20).strip().splitlines()
        for line in out:
            host, _, port = line.rpartition(":")
            if host in ("127.0.0.1", "0.0.0.0"):
                return int(port)
        raise DockerError(f"{self.name}: port {container_port} is not published on 127.0.0.1 ({out})")

    def state(self) -> dict[str, str]:
        fmt = "{{.State.Status}}|{{if .State.Health}}{{.State.Health.Status}}{{end}}|{{.State.ExitCode}}"
        status, health, code = docker("inspect", "-f", fmt, self.name, timeout=20).strip().split("|")
        return {"status": status, "health": health, "exit_code": code}

    def wait_healthy(self, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        state = self.state()
        while time.monotonic() < deadline:
            state = self.state()
            if state["health"] == "healthy":
                return
            if state["status"] != "running":
                break
            time.sleep(0.5)
        raise DockerError(
            f"{self.name} did not become healthy within {timeout:.0f} s: {state}\n{self.logs()}"
        )

    def logs(self, lines: int = 60) -> str:
        res = subprocess.run(
            ["docker", "logs", "--tail", str(lines), self.name], capture_output=True, text=True, timeout=30
        )
        return f"--- docker logs {self.name} (last {lines} lines) ---\n{res.stdout}{res.stderr}"


@dataclass
class DockerStack:
    """Containers on one private network; `close()` removes everything it created."""

    suffix: str = field(default_factory=lambda: secrets.token_hex(4))
    containers: list[Container] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    network: str = ""

    def __post_init__(self) -> None:
        self.network = f"cs3hub-smoke-{self.suffix}"
        docker("network", "create", self.network, timeout=30)

    def volume(self, name: str, *opts: str) -> str:
        full = f"cs3hub-smoke-{name}-{self.suffix}"
        args = ["volume", "create"]
        for opt in opts:
            args += ["--opt", opt]
        docker(*args, full, timeout=30)
        self.volumes.append(full)
        return full

    def create(
        self,
        alias: str,
        image: str,
        *cmd: str,
        env: dict[str, str] | None = None,
        publish: Sequence[int] = (),
        mounts: Sequence[str] = (),
        user: str | None = None,
        options: Sequence[str] = (),
        entrypoint: str | None = None,
    ) -> Container:
        """`docker create` on the stack's network, reachable there as `alias`."""
        name = f"cs3hub-smoke-{alias}-{self.suffix}"
        args = ["create", "--name", name, "--network", self.network, "--network-alias", alias]
        for key, value in (env or {}).items():
            args += ["--env", f"{key}={value}"]
        for port in publish:
            args += ["--publish", f"127.0.0.1::{port}"]
        for mount in mounts:
            args += ["--mount", mount]
        if user:
            args += ["--user", user]
        if entrypoint is not None:
            args += ["--entrypoint", entrypoint]
        args += [*options, image, *cmd]
        docker(*args, timeout=60)
        container = Container(name)
        self.containers.append(container)
        return container

    def start(self, container: Container) -> Container:
        docker("start", container.name, timeout=60)
        return container

    def run(self, alias: str, image: str, *cmd: str, **kwargs: object) -> Container:
        return self.start(self.create(alias, image, *cmd, **kwargs))  # type: ignore[arg-type]

    def logs(self) -> list[tuple[str, str]]:
        return [(c.name, c.logs()) for c in self.containers]

    def close(self) -> None:
        errors = []
        for container in reversed(self.containers):
            try:
                docker("rm", "--force", "--volumes", container.name, timeout=60)
            except DockerError as err:
                errors.append(str(err))
        for volume in self.volumes:
            try:
                docker("volume", "rm", "--force", volume, timeout=30)
            except DockerError as err:
                errors.append(str(err))
        try:
            docker("network", "rm", self.network, timeout=30)
        except DockerError as err:
            errors.append(str(err))
        if errors:
            raise DockerError("cleaning up the smoke test's containers failed: " + "; ".join(errors))
