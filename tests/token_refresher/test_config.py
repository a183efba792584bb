"""Configuration: environment and flags, and every bad setting exiting 2 with one clear line.

The error cases run the real command line (`python -m token_refresher`) against a live fake
hub and check that the hub never saw a request: a bad setting is caught before the network.
"""

from __future__ import annotations

import os
import socket
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.token_refresher.conftest import run_cli
from tests.token_refresher.fakehub import FakeHub
from token_refresher.config import ConfigError, load_config

Mutator = Callable[[dict[str, str], Path], list[str]]


def unset(*names: str) -> Mutator:
    def mutate(env: dict[str, str], tmp: Path) -> list[str]:
        for name in names:
            env.pop(name, None)
        return []

    return mutate


def setenv(**values: str) -> Mutator:
    def mutate(env: dict[str, str], tmp: Path) -> list[str]:
        env.update(values)
        return []

    return mutate


def flags(*argv: str) -> Mutator:
    return lambda env, tmp: list(argv)


def token_file_with(text: str | None, *, also_env_token: bool = False) -> Mutator:
    def mutate(env: dict[str, str], tmp: Path) -> list[str]:
        path = tmp / "api-token"
        if text is not None:
            path.write_text(text)
        if not also_env_token:
            env.pop("JUPYTERHUB_API_TOKEN")
        env["JUPYTERHUB_API_TOKEN_FILE"] = str(path)
        return []

    return mutate


def target(relative: str) -> Mutator:
    def mutate(env: dict[str, str], tmp: Path) -> list[str]:
        env["CS3_TOKEN_PATH"] = str(tmp / relative)
        return []

    return mutate


def ready_in_missing_folder(env: dict[str, str], tmp: Path) -> list[str]:
    return ["--ready-file", str(tmp / "nowhere" / "ready")]


def bad_ca_file(env: dict[str, str], tmp: Path) -> list[str]:
    path = tmp / "ca.pem"
    path.write_text("not a certificate\n")
    return ["--ca-file", str(path)]


CASES: list[tuple[str, Mutator, str]] = [
    ("no-api-url", unset("JUPYTERHUB_API_URL"), "--api-url / JUPYTERHUB_API_URL: is required"),
    ("empty-api-url", setenv(JUPYTERHUB_API_URL=""), "--api-url / JUPYTERHUB_API_URL: is required"),
    ("ftp-url", setenv(JUPYTERHUB_API_URL="ftp://hub/hub/api"), "must be an http:// or https:// URL"),
    ("bare-url", flags("--api-url", "hub:8081/hub/api"), "--api-url / JUPYTERHUB_API_URL: must be an http"),
    ("no-host", setenv(JUPYTERHUB_API_URL="http:///hub/api"), "--api-url / JUPYTERHUB_API_URL: has no host"),
    ("bad-port", setenv(JUPYTERHUB_API_URL="http://hub:eighty/api"), "is not a valid URL"),
    ("no-user", unset("JUPYTERHUB_USER"), "--user / JUPYTERHUB_USER: is required"),
    (
        "no-api-token",
        unset("JUPYTERHUB_API_TOKEN"),
        "JUPYTERHUB_API_TOKEN (or --api-token-file / JUPYTERHUB_API_TOKEN_FILE): is required",
    ),
    ("token-and-file", token_file_with("secret-x", also_env_token=True), "set only one of the two"),
    (
        "missing-token-file",
        token_file_with(None),
        "--api-token-file / JUPYTERHUB_API_TOKEN_FILE: cannot read",
    ),
    ("empty-token-file", token_file_with("\n"), "the API token in"),
    ("token-with-space", setenv(JUPYTERHUB_API_TOKEN="two words"), "JUPYTERHUB_API_TOKEN: the API token has"),
    ("no-token-path", unset("CS3_TOKEN_PATH"), "--token-path / CS3_TOKEN_PATH: is required"),
    ("missing-folder", target("nowhere/oauth.token"), "--token-path / CS3_TOKEN_PATH: folder"),
    ("path-is-folder", target("."), "is a folder, not a file"),
    ("unknown-field", setenv(CS3_TOKEN_FORMAT="{user}:{token}"), "unknown field {user}"),
    ("positional-field", flags("--format", "{}:{token}"), "--format / CS3_TOKEN_FORMAT: unknown field {}"),
    (
        "no-token-field",
        setenv(CS3_TOKEN_FORMAT="static"),
        "--format / CS3_TOKEN_FORMAT: must contain {token}",
    ),
    ("unbalanced", setenv(CS3_TOKEN_FORMAT="{token"), "--format / CS3_TOKEN_FORMAT:"),
    ("conversion", setenv(CS3_TOKEN_FORMAT="{token!r}"), "takes no conversion or format spec"),
    ("attribute", setenv(CS3_TOKEN_FORMAT="{token.upper}"), "unknown field {token.upper}"),
    (
        "world-readable",
        setenv(CS3_TOKEN_MODE="0644"),
        "--mode / CS3_TOKEN_MODE: 0644 gives other users access",
    ),
    ("flag-beats-env", flags("--mode", "0604"), "--mode / CS3_TOKEN_MODE: 0604 gives other users"),
    ("not-octal", setenv(CS3_TOKEN_MODE="rw-------"), "is not an octal mode"),
    ("decimal-digits", setenv(CS3_TOKEN_MODE="0680"), "is not an octal mode"),
    ("special-bits", setenv(CS3_TOKEN_MODE="4600"), "between 0000 and 0777"),
    ("unreadable-mode", setenv(CS3_TOKEN_MODE="0200"), "lets neither the owner nor the group read"),
    ("margin-word", setenv(CS3_TOKEN_REFRESH_MARGIN="soon"), "--margin / CS3_TOKEN_REFRESH_MARGIN: 'soon'"),
    ("margin-zero", flags("--margin", "0"), "--margin / CS3_TOKEN_REFRESH_MARGIN: must be a positive"),
    ("margin-nan", flags("--margin", "nan"), "--margin / CS3_TOKEN_REFRESH_MARGIN: must be a positive"),
    ("jitter-negative", flags("--jitter=-1"), "--jitter / CS3_TOKEN_REFRESH_JITTER: must be a non-negative"),
    ("port-range", setenv(CS3_TOKEN_HEALTH_PORT="70000"), "--health-port / CS3_TOKEN_HEALTH_PORT: 70000"),
    ("port-word", flags("--health-port", "http"), "--health-port / CS3_TOKEN_HEALTH_PORT: 'http'"),
    ("host-name", flags("--health-host", "localhost"), "--health-host / CS3_TOKEN_HEALTH_HOST: 'localhost'"),
    ("ready-folder", ready_in_missing_folder, "--ready-file / CS3_TOKEN_READY_FILE: folder"),
    ("timeout-zero", setenv(CS3_TOKEN_HTTP_TIMEOUT="0"), "--timeout / CS3_TOKEN_HTTP_TIMEOUT: must be"),
    ("backoff-order", flags("--backoff-initial", "5", "--backoff-max", "1"), "--backoff-max / CS3_TOKEN"),
    ("ca-not-pem", bad_ca_file, "--ca-file / CS3_TOKEN_CA_FILE:"),
    ("log-level", setenv(CS3_TOKEN_LOG_LEVEL="LOUD"), "--log-level / CS3_TOKEN_LOG_LEVEL: must be one of"),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_setting_exits_2_before_any_request(
    hub: FakeHub, env: dict[str, str], tmp_path: Path, mutate: Mutator, expected: str
) -> None:
    argv = mutate(env, tmp_path)
    result = run_cli(argv, env, tmp_path, timeout=10)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("cs3-token-refresher: configuration error: ")
    assert expected in lines[0]
    assert result.stdout == ""
    assert hub.requests == []
    assert not (tmp_path / "cs3" / "oauth.token").exists()


@pytest.fixture
def unwritable(token_dir: Path) -> Iterator[Path]:
    """A folder the refresher cannot write to, even as root (which ignores permission bits)."""
    if os.geteuid() == 0:
        if subprocess.run(["chattr", "+i", str(token_dir)], capture_output=True, check=False).returncode:
            pytest.skip("running as root on a file system without chattr +i")
        yield token_dir
        subprocess.run(["chattr", "-i", str(token_dir)], check=True)
    else:
        token_dir.chmod(0o500)
        yield token_dir
        token_dir.chmod(0o700)


def test_unwritable_folder_exits_2(
    hub: FakeHub, env: dict[str, str], unwritable: Path, tmp_path: Path
) -> None:
    result = run_cli([], env, tmp_path, timeout=10)
    assert result.returncode == 2
    assert f"--token-path / CS3_TOKEN_PATH: folder {unwritable} is not writable" in result.stderr
    assert hub.requests == []


def test_taken_health_port_exits_2_before_any_request(
    hub: FakeHub, env: dict[str, str], tmp_path: Path
) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = run_cli(["--health-port", str(port)], env, tmp_path, timeout=10)
    assert result.returncode == 2
    assert f"--health-port / CS3_TOKEN_HEALTH_PORT: cannot listen on 127.0.0.1:{port}" in result.stderr
    assert hub.requests == []


def test_unknown_or_abbreviated_flag_exits_2(hub: FakeHub, env: dict[str, str], tmp_path: Path) -> None:
    for argv in (["--no-such-flag"], ["--token", "x"]):  # no prefix matching of --token-path
        result = run_cli(argv, env, tmp_path, timeout=10)
        assert result.returncode == 2
        assert "unrecognized arguments" in result.stderr
    assert hub.requests == []


# -- parsing, in-process ---------------------------------------------------------------------


def test_defaults(env: dict[str, str], hub: FakeHub, token_dir: Path) -> None:
    config = load_config([], env)
    assert config.api_url == hub.api_url
    assert config.token_url == f"{hub.api_url}/cs3/token"
    assert config.user == "einstein"
    assert config.token_path == token_dir / "oauth.token"
    assert config.token_format == "{token}"
    assert config.mode == 0o600
    assert config.margin == 60
    assert config.jitter == 6
    assert config.ready_file is None
    assert config.health_port is None
    assert config.health_host == "127.0.0.1"
    assert config.once is False
    assert (config.backoff_initial, config.backoff_max, config.timeout) == (1, 60, 10)


def test_flags_override_environment(env: dict[str, str], tmp_path: Path) -> None:
    env.update(CS3_TOKEN_MODE="0640", CS3_TOKEN_REFRESH_MARGIN="120", CS3_TOKEN_FORMAT="a{token}")
    other = tmp_path / "elsewhere"
    other.mkdir()
    config = load_config(
        ["--mode", "0o400", "--margin", "30", "--format", "b:{token}", "--token-path", str(other / "t")], env
    )
    assert config.mode == 0o400
    assert config.margin == 30
    assert config.jitter == 3  # 10% of the margin in use
    assert config.token_format == "b:{token}"
    assert config.token_path == other / "t"
    env_only = load_config([], env)
    assert (env_only.mode, env_only.margin, env_only.token_format) == (0o640, 120, "a{token}")


@pytest.mark.parametrize(
    ("text", "mode"), [("600", 0o600), ("0640", 0o640), ("0o440", 0o440), (" 0600 ", 0o600)]
)
def test_mode_spellings(env: dict[str, str], text: str, mode: int) -> None:
    assert load_config(["--mode", text], env).mode == mode


def test_api_token_from_file_drops_the_trailing_newline(env: dict[str, str], tmp_path: Path) -> None:
    secret = tmp_path / "token"
    secret.write_text("FAKE-API-TOKEN-from-file\n")
    del env["JUPYTERHUB_API_TOKEN"]
    config = load_config(["--api-token-file", str(secret)], env)
    assert config.api_token == "FAKE-API-TOKEN-from-file"
    assert config.api_token_file == secret
    # The flag wins over the environment variable holding the token itself.
    env["JUPYTERHUB_API_TOKEN"] = "FAKE-API-TOKEN-env"
    assert load_config(["--api-token-file", str(secret)], env).api_token == "FAKE-API-TOKEN-from-file"


def test_config_repr_hides_the_api_token(env: dict[str, str], api_token: str) -> None:
    config = load_config([], env)
    assert api_token not in repr(config)
    assert api_token not in str(config)


def test_error_names_the_setting(env: dict[str, str]) -> None:
    env["CS3_TOKEN_MODE"] = "0666"
    with pytest.raises(ConfigError) as caught:
        load_config([], env)
    assert caught.value.setting == "--mode / CS3_TOKEN_MODE"
