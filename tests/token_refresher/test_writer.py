"""The token file: atomic replacement, exact permissions, nothing left behind."""

from __future__ import annotations

import errno
import os
import stat
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from token_refresher.writer import STALE_TEMP_AGE, TokenWriter


@pytest.fixture
def strict_umask() -> Iterator[None]:
    old = os.umask(0o077)
    yield
    os.umask(old)


def mode_of(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def leftovers(folder: Path) -> list[str]:
    return sorted(p.name for p in folder.iterdir() if p.name.endswith(".tmp"))


@pytest.mark.usefixtures("strict_umask")
@pytest.mark.parametrize("mode", [0o600, 0o640, 0o400, 0o440])
def test_file_gets_exactly_the_configured_mode(token_dir: Path, mode: int) -> None:
    target = token_dir / "oauth.token"
    TokenWriter(target, "{token}", mode).write("FAKE-TOKEN-mode-check")
    assert target.read_text() == "FAKE-TOKEN-mode-check"
    assert mode_of(target) == mode


def test_looser_existing_file_is_replaced_by_a_private_one(token_dir: Path) -> None:
    target = token_dir / "oauth.token"
    target.write_text("old")
    target.chmod(0o644)
    TokenWriter(target, "{token}", 0o600).write("FAKE-TOKEN-new")
    assert target.read_text() == "FAKE-TOKEN-new"
    assert mode_of(target) == 0o600


def test_temporary_file_is_created_private_and_exclusive(
    token_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The temp file never exists with looser permissions: os.open gets the final mode."""
    calls: list[tuple[str, int, int]] = []
    real_open = os.open

    def recording_open(path: str | os.PathLike[str], flags: int, mode: int = 0o777, **kw: object) -> int:
        calls.append((os.fspath(path), flags, mode))
        return real_open(path, flags, mode, **kw)  # type: ignore[arg-type]

    monkeypatch.setattr(os, "open", recording_open)
    target = token_dir / "oauth.token"
    TokenWriter(target, "{token}", 0o640).write("FAKE-TOKEN-temp")
    monkeypatch.undo()

    created = [(path, flags, mode) for path, flags, mode in calls if flags & os.O_CREAT]
    assert len(created) == 1
    path, flags, mode = created[0]
    assert Path(path).parent == token_dir  # same folder, so the rename is atomic
    assert Path(path).name.startswith(".oauth.token.")
    assert flags & os.O_EXCL
    assert flags & os.O_NOFOLLOW
    assert mode == 0o640
    assert leftovers(token_dir) == []


def test_format_is_applied(token_dir: Path) -> None:
    target = token_dir / "oauth.token"
    TokenWriter(target, "oauth2:{token}:https://auth.example.org", 0o600).write("FAKE-TOKEN-fmt")
    assert target.read_text() == "oauth2:FAKE-TOKEN-fmt:https://auth.example.org"
    TokenWriter(target, "{{literal}} {token}\n", 0o600).write("FAKE-TOKEN-fmt")
    assert target.read_text() == "{literal} FAKE-TOKEN-fmt\n"


def test_failed_write_keeps_the_previous_token_and_no_temp_file(
    token_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = token_dir / "oauth.token"
    writer = TokenWriter(target, "{token}", 0o600)
    writer.write("FAKE-TOKEN-good")

    def full_disk(src: str, dst: str) -> None:
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full_disk)
    with pytest.raises(OSError, match="No space"):
        writer.write("FAKE-TOKEN-lost")
    monkeypatch.undo()
    assert target.read_text() == "FAKE-TOKEN-good"
    assert leftovers(token_dir) == []


def test_concurrent_reader_never_sees_a_partial_or_empty_file(token_dir: Path) -> None:
    """A reader polling the file while it is rewritten hundreds of times sees only whole tokens,
    short and long ones alternating so that a torn read would show."""
    target = token_dir / "oauth.token"
    writer = TokenWriter(target, "oauth2:{token}:end", 0o600)
    tokens = [f"FAKE-TOKEN-{i}-" + "x" * (i % 3) * 40_000 for i in range(300)]
    valid = {f"oauth2:{t}:end" for t in tokens}
    writer.write(tokens[0])
    stop = threading.Event()
    bad: list[str] = []
    reads = 0

    def reader() -> None:
        nonlocal reads
        while not stop.is_set():
            with open(target) as handle:
                content = handle.read()
            reads += 1
            if content not in valid:
                bad.append(f"{len(content)} chars: {content[:40]!r}…{content[-10:]!r}")

    thread = threading.Thread(target=reader)
    thread.start()
    try:
        for token in tokens[1:]:
            writer.write(token)
    finally:
        stop.set()
        thread.join(10)
    assert bad == []
    assert reads > 50, "the reader hardly ran: the test proved nothing"
    assert target.read_text() == f"oauth2:{tokens[-1]}:end"
    assert leftovers(token_dir) == []


def test_stale_temporary_files_of_a_crashed_run_are_removed(token_dir: Path) -> None:
    target = token_dir / "oauth.token"
    stale = token_dir / ".oauth.token.0123456789abcdef.tmp"
    fresh = token_dir / ".oauth.token.fedcba9876543210.tmp"
    other = token_dir / ".other.0123.tmp"
    for path in (stale, fresh, other):
        path.write_text("x")
    old = time.time() - STALE_TEMP_AGE - 10
    os.utime(stale, (old, old))
    os.utime(other, (old, old))
    assert TokenWriter(target, "{token}", 0o600).remove_stale_temps() == 1
    assert not stale.exists()
    assert fresh.exists()  # may be a write in progress
    assert other.exists()  # not ours


def test_world_writable_folder_is_warned_about(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    shared.chmod(0o777)
    warnings = TokenWriter(shared / "oauth.token", "{token}", 0o600).folder_warnings()
    assert len(warnings) == 1
    assert "writable by every user" in warnings[0]
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    assert TokenWriter(private / "oauth.token", "{token}", 0o600).folder_warnings() == []
