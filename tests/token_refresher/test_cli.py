"""The command line as a process: --help, --once, signals, and what it prints.

These run `python -m token_refresher` (and the `cs3-token-refresher` script when installed)
against the fake hub, with distinctive fake token strings, and check that none of them ever
reaches stdout or stderr, whatever happens during the run.
"""

from __future__ import annotations

import importlib
import shutil
import signal
import stat
import subprocess
import sys
import time
import tomllib
from collections.abc import Callable
from pathlib import Path

import httpx
import pytest

from tests.harness.ports import free_port
from tests.token_refresher.conftest import Cli, run_cli, wait_for_sync
from tests.token_refresher.fakehub import FakeHub
from token_refresher.config import API_TOKEN_ENV, SETTINGS

PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"
FORMAT = "oauth2:{token}:https://auth.example.org"


def assert_no_secrets(output: str, hub: FakeHub, api_token: str) -> None:
    assert hub.issued, "the run handed out no token: nothing was checked"
    for token in hub.issued:
        assert token not in output
    assert hub.prefix not in output
    assert api_token not in output
    assert "FAKE-API-TOKEN" not in output


def test_help_documents_every_setting(env: dict[str, str], tmp_path: Path) -> None:
    result = run_cli(["--help"], env, tmp_path)
    assert result.returncode == 0
    for setting in SETTINGS:
        assert setting.flag in result.stdout
        assert setting.env is not None
        assert setting.env in result.stdout
    assert API_TOKEN_ENV in result.stdout
    assert "--once" in result.stdout
    assert result.stdout.startswith("usage: cs3-token-refresher")


def test_console_script_is_declared() -> None:
    scripts = tomllib.loads(PYPROJECT.read_text())["project"]["scripts"]
    module, _, name = scripts["cs3-token-refresher"].partition(":")
    assert callable(getattr(importlib.import_module(module), name))


def test_console_script_runs(env: dict[str, str], tmp_path: Path) -> None:
    script = Path(sys.executable).parent / "cs3-token-refresher"
    if not script.exists():
        script_path = shutil.which("cs3-token-refresher")
        if script_path is None:
            pytest.skip("cs3-token-refresher is not installed yet: reinstall the package (make venv)")
        script = Path(script_path)
    result = subprocess.run(
        [str(script), "--mode", "0666"], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 2
    assert "--mode / CS3_TOKEN_MODE" in result.stderr


def test_once_writes_one_token_and_exits(
    hub: FakeHub, env: dict[str, str], token_dir: Path, tmp_path: Path, api_token: str
) -> None:
    hub.serve_tokens(lifetime=600)
    ready = token_dir / "ready"
    env.update(CS3_TOKEN_FORMAT=FORMAT, CS3_TOKEN_MODE="0640", CS3_TOKEN_READY_FILE=str(ready))
    result = run_cli(["--once"], env, tmp_path)
    assert result.returncode == 0, result.stderr
    target = token_dir / "oauth.token"
    assert target.read_text() == f"oauth2:{hub.issued[0]}:https://auth.example.org"
    assert stat.S_IMODE(target.stat().st_mode) == 0o640
    assert ready.exists()
    assert len(hub.requests) == 1
    assert "First token written" in result.stderr
    assert "exiting (--once)" in result.stderr
    assert_no_secrets(result.stdout + result.stderr, hub, api_token)


@pytest.mark.parametrize("failure", ["refused", "down"])
def test_once_exits_1_without_a_token(
    hub: FakeHub, env: dict[str, str], token_dir: Path, tmp_path: Path, failure: str
) -> None:
    if failure == "refused":
        hub.fail(403, "This token lacks the custom:cs3:token scope")
        expected = "HTTP 403: This token lacks the custom:cs3:token scope"
    else:
        hub.stop_listening()
        expected = "cannot connect"
    result = run_cli(["--once"], env, tmp_path)
    assert result.returncode == 1
    assert expected in result.stderr
    assert not (token_dir / "oauth.token").exists()


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_signal_stops_the_daemon_cleanly_and_quickly(
    hub: FakeHub, env: dict[str, str], token_dir: Path, spawn: Callable[..., Cli], signum: signal.Signals
) -> None:
    hub.serve_tokens(lifetime=600)
    ready = token_dir / "ready"
    cli = spawn(["--ready-file", str(ready)], env)
    wait_for_sync(lambda: ready.exists() or cli.proc.poll() is not None, 10, "the ready file")
    assert ready.exists(), cli.output
    cli.proc.send_signal(signum)
    started = time.monotonic()
    assert cli.wait(5) == 0
    assert time.monotonic() - started < 2
    assert f"Received {signum.name}; stopping" in cli.output
    assert "Stopped" in cli.output
    assert "Traceback" not in cli.output
    assert (token_dir / "oauth.token").read_text() == hub.issued[0]  # left in place for the server


def test_sigterm_interrupts_a_hanging_request(
    hub: FakeHub, env: dict[str, str], spawn: Callable[..., Cli]
) -> None:
    hub.delay = 5.0
    cli = spawn(["--timeout", "30"], env)
    cli.wait_for_output("Started for user einstein", 10)
    time.sleep(0.3)  # the request is now waiting for the hub
    cli.proc.send_signal(signal.SIGTERM)
    started = time.monotonic()
    assert cli.wait(5) == 0
    assert time.monotonic() - started < 2


def test_a_whole_run_never_prints_a_token(
    hub: FakeHub, env: dict[str, str], token_dir: Path, api_token: str, spawn: Callable[..., Cli]
) -> None:
    """Tokens, refreshes, an outage, a refusal, an echoing hub, DEBUG logs: no token in the output."""
    hub.serve_tokens(lifetime=1.5, hub_margin=60)
    port = free_port()
    env["CS3_TOKEN_FORMAT"] = FORMAT
    argv = ["--log-level", "DEBUG", "--margin", "1", "--backoff-initial", "0.1", "--backoff-max", "0.3"]
    cli = spawn([*argv, "--health-port", str(port), "--ready-file", str(token_dir / "ready")], env)
    target = token_dir / "oauth.token"

    def tokens_written(count: int) -> None:
        wait_for_sync(lambda: len(hub.issued) >= count and cli.proc.poll() is None, 5, f"{count} tokens")
        wait_for_sync(lambda: target.exists() and hub.issued[count - 1] in target.read_text(), 5, "the write")

    tokens_written(2)
    assert httpx.get(f"http://127.0.0.1:{port}/ready", timeout=5).status_code == 200
    hub.fail(503, "The hub is restarting")
    cli.wait_for_output("HTTP 503", 5)
    hub.stop_listening()
    cli.wait_for_output("cannot connect", 5)
    hub.start_listening()
    hub.fail(403, "This token lacks the custom:cs3:token scope")
    cli.wait_for_output("HTTP 403", 5)
    # A broken hub that echoes the token in an error: the log still shows no token.
    hub.fail(500, f"upstream said {hub.issued[-1]}")
    cli.wait_for_output("HTTP 500", 5)
    hub.serve_tokens(lifetime=1.5, hub_margin=60)
    tokens_written(len(hub.issued) + 1)
    cli.proc.send_signal(signal.SIGTERM)
    assert cli.wait(5) == 0

    output = cli.output
    assert_no_secrets(output, hub, api_token)
    # Only the echo was scrubbed: the refresher itself never tried to print a token.
    assert "upstream said [redacted]" in output
    assert output.count("[redacted]") == output.count("upstream said [redacted]")
    for event in (
        "Started for user einstein",
        "First token written",
        "Token refreshed",
        "Ready: created",
        "The hub is restarting",
        "the current token stays in place",
        "cannot connect",
        "This token lacks the custom:cs3:token scope",
        "Recovered after",
        "Received SIGTERM; stopping",
    ):
        assert event in output
