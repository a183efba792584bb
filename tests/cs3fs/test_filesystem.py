"""The filesystem's own promises on real reva: metadata, writes that land only on close,
folders, moves and copies, clear errors, and no way out of the user's root."""

from __future__ import annotations

import os
import time
from pathlib import Path

import fsspec
import pytest

from cs3_contents_manager.cs3fs import CS3FileSystem
from tests.cs3fs.conftest import filesystem
from tests.cs3fs.test_dataframes import api_bytes
from tests.harness.jupyter import JupyterServer
from tests.harness.reva import Revad

pytestmark = pytest.mark.reva


def test_info_ls_and_exists_report_what_is_stored(fs: CS3FileSystem, folder: str) -> None:
    fs.pipe(f"~/{folder}/a.txt", b"first")
    fs.mkdir(f"~/{folder}/sub")
    info = fs.info(f"cs3://~/{folder}/a.txt")
    assert info["name"] == f"/~/{folder}/a.txt"
    assert info["type"] == "file"
    assert info["size"] == 5
    assert abs(info["mtime"] - time.time()) < 60
    assert info["etag"]
    assert fs.modified(f"~/{folder}/a.txt").timestamp() == info["mtime"]
    assert fs.ls(f"~/{folder}", detail=False) == [f"/~/{folder}/a.txt", f"/~/{folder}/sub"]
    assert fs.isdir(f"~/{folder}/sub")
    assert fs.isfile(f"~/{folder}/a.txt")
    assert not fs.exists(f"~/{folder}/missing.txt")
    # Names from a listing are paths again.
    assert fs.cat(fs.ls(f"~/{folder}", detail=False)[0]) == b"first"
    # The etag follows the content (reva's local drivers: mtime to the second).
    time.sleep(1.1)
    fs.pipe(f"~/{folder}/a.txt", b"second")
    assert fs.info(f"~/{folder}/a.txt")["etag"] != info["etag"]
    assert fs.ukey(f"~/{folder}/a.txt") == fs.info(f"~/{folder}/a.txt")["etag"]


def test_a_file_written_in_pieces_is_stored_only_on_close(
    fs: CS3FileSystem, server: JupyterServer, folder: str
) -> None:
    path = f"~/{folder}/big.bin"
    fs.pipe(path, b"old content")
    pieces = [os.urandom(256 * 1024) for _ in range(12)]
    with fs.open(path, "wb", block_size=1024 * 1024) as out:
        for piece in pieces:
            out.write(piece)
        # Three blocks went to the local spool; the stored file has not changed yet.
        assert fs.cat(path) == b"old content"
    assert fs.cat(path) == b"".join(pieces)
    assert api_bytes(server, f"{folder}/big.bin") == b"".join(pieces)


def test_exclusive_create_refuses_an_existing_file(fs: CS3FileSystem, folder: str) -> None:
    fs.pipe(f"~/{folder}/keep.txt", b"kept")
    with pytest.raises(FileExistsError), fs.open(f"~/{folder}/keep.txt", "xb") as out:
        out.write(b"lost")
    with fs.open(f"~/{folder}/new.txt", "xb") as out:
        out.write(b"new")
    assert fs.cat(f"~/{folder}/keep.txt") == b"kept"
    assert fs.cat(f"~/{folder}/new.txt") == b"new"


def test_text_mode_and_random_reads(fs: CS3FileSystem, folder: str) -> None:
    with fs.open(f"~/{folder}/notes.txt", "w", encoding="utf-8") as out:
        out.write("Grüße\n" * 1000)
    with fs.open(f"~/{folder}/notes.txt", "r", encoding="utf-8") as f:
        assert f.readline() == "Grüße\n"
    data = os.urandom(3 * 1024 * 1024 + 17)
    fs.pipe(f"~/{folder}/r.bin", data)
    with fs.open(f"~/{folder}/r.bin", "rb", block_size=64 * 1024) as f:
        for start, length in [(3_000_000, 1000), (10, 20), (len(data) - 5, 100), (1_000_000, 70_000)]:
            f.seek(start)
            assert f.read(length) == data[start : start + length]
    assert fs.cat_file(f"~/{folder}/r.bin", start=100, end=200) == data[100:200]
    assert fs.cat_file(f"~/{folder}/r.bin", start=-10) == data[-10:]


def test_folders_moves_and_copies(fs: CS3FileSystem, folder: str, tmp_path: Path) -> None:
    base = f"~/{folder}"
    fs.makedirs(f"{base}/a/b/c")
    fs.pipe({f"{base}/a/one.txt": b"1", f"{base}/a/b/two.txt": b"2"})
    assert fs.find(f"{base}/a") == [f"/~/{folder}/a/b/two.txt", f"/~/{folder}/a/one.txt"]
    with pytest.raises(FileExistsError):
        fs.makedirs(f"{base}/a/b")
    fs.makedirs(f"{base}/a/b", exist_ok=True)

    fs.cp(f"{base}/a", f"{base}/copy", recursive=True)
    assert fs.cat(f"{base}/copy/b/two.txt") == b"2"
    fs.mv(f"{base}/copy", f"{base}/moved")
    assert not fs.exists(f"{base}/copy")
    assert fs.cat(f"{base}/moved/one.txt") == b"1"
    fs.mv(f"{base}/moved/one.txt", f"{base}/a/b")  # into a folder: keeps its name
    assert fs.cat(f"{base}/a/b/one.txt") == b"1"

    fs.get(f"{base}/a", str(tmp_path / "local"), recursive=True)
    assert (tmp_path / "local" / "b" / "two.txt").read_bytes() == b"2"
    (tmp_path / "up").mkdir()
    (tmp_path / "up" / "x.txt").write_bytes(b"x" * 5000)
    fs.put(str(tmp_path / "up"), f"{base}/up", recursive=True)
    assert fs.cat(f"{base}/up/x.txt") == b"x" * 5000

    with pytest.raises(IsADirectoryError):
        fs.rm(f"{base}/a")
    fs.rm(f"{base}/a", recursive=True)
    assert not fs.exists(f"{base}/a")
    fs.rm(f"{base}/up/x.txt")
    assert fs.ls(f"{base}/up") == []


def test_missing_files_and_folders_raise_what_python_raises(fs: CS3FileSystem, folder: str) -> None:
    fs.pipe(f"~/{folder}/file.txt", b"x")
    with pytest.raises(FileNotFoundError, match=r"missing\.csv"):
        fs.cat(f"~/{folder}/missing.csv")
    with pytest.raises(FileNotFoundError):
        fs.open(f"~/{folder}/missing.csv")
    with pytest.raises(FileNotFoundError):
        fs.info(f"~/{folder}/file.txt/below")
    with pytest.raises(FileNotFoundError):
        fs.ls(f"~/{folder}/nothing")
    with pytest.raises(IsADirectoryError):
        fs.cat(f"~/{folder}")
    with pytest.raises(FileNotFoundError, match="no-folder"):
        fs.pipe(f"~/{folder}/no-folder/x.csv", b"x")
    with pytest.raises(NotImplementedError, match="Appending"):
        fs.open(f"~/{folder}/file.txt", "ab")


@pytest.mark.parametrize(
    "path",
    [
        "~/..",
        "~/../fs-other/x.csv",
        "../../../x.csv",
        "~/a/../../x.csv",
        "/home",
        "/etc/passwd",
    ],
)
def test_no_path_leaves_the_root(
    reva: Revad, server: JupyterServer, secret: Path, folder: str, path: str
) -> None:
    fs = filesystem(reva, server, secret, cwd=f"{folder}/nb")
    with pytest.raises(PermissionError):
        fs.cat(path)
    with pytest.raises(PermissionError):
        fs.pipe(path, b"escaped")


def test_a_sibling_folder_that_shares_the_roots_name_is_outside(
    reva: Revad, server: JupyterServer, secret: Path, folder: str
) -> None:
    outer = filesystem(reva, server, secret)
    outer.makedirs(f"~/{folder}-sibling")
    outer.pipe(f"~/{folder}-sibling/x.txt", b"sibling")
    inner = filesystem(reva, server, secret, root=f"{server.root}/{folder}")  # type: ignore[attr-defined]
    with pytest.raises(PermissionError):
        inner.cat(f"{server.root}/{folder}-sibling/x.txt")  # type: ignore[attr-defined]
    inner.pipe("~/inside.txt", b"in")
    assert inner.cat(f"{server.root}/{folder}/inside.txt") == b"in"  # type: ignore[attr-defined]
    assert outer.cat(f"~/{folder}/inside.txt") == b"in"


@pytest.mark.parametrize("path", ["~/a\\b.txt", "~/nul\x00.txt", "~/" + "n" * 300])
def test_names_no_storage_can_hold_are_refused(fs: CS3FileSystem, path: str) -> None:
    # Said so, not as a path outside the root.
    with pytest.raises(ValueError, match=r"Not a usable cs3:// path .*(backslash|too long)"):
        fs.pipe(path, b"x")


def test_relative_paths_start_at_the_notebooks_folder(
    reva: Revad, server: JupyterServer, secret: Path, folder: str
) -> None:
    fs = filesystem(reva, server, secret, cwd=f"{folder}/nb")
    fs.makedirs(f"~/{folder}/nb")
    fs.pipe("data.csv", b"a,b\n")
    assert fs.cat(f"~/{folder}/nb/data.csv") == b"a,b\n"
    assert fs.ls("", detail=False) == [f"/~/{folder}/nb/data.csv"]
    fs.pipe("../up.csv", b"up")
    assert fs.cat(f"~/{folder}/up.csv") == b"up"
    assert sorted(fs.glob("*.csv")) == [f"/~/{folder}/nb/data.csv"]


def test_unconfigured_filesystem_says_what_is_missing(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(ValueError, match="FSSPEC_CS3"):
        fsspec.filesystem("cs3", skip_instance_cache=True)


def test_files_of_a_transaction_are_stored_when_it_ends(fs: CS3FileSystem, folder: str) -> None:
    with fs.transaction:
        with fs.open(f"~/{folder}/one.csv", "wb") as out:
            out.write(b"1\n")
        with fs.open(f"~/{folder}/two.csv", "wb") as out:
            out.write(b"2\n" * 3_000_000)  # spooled: larger than a block
        assert not fs.exists(f"~/{folder}/one.csv")
        assert not fs.exists(f"~/{folder}/two.csv")
    assert fs.cat(f"~/{folder}/one.csv") == b"1\n"
    assert fs.cat(f"~/{folder}/two.csv") == b"2\n" * 3_000_000


def test_rmdir_removes_only_empty_folders(fs: CS3FileSystem, folder: str) -> None:
    fs.makedirs(f"~/{folder}/full/empty")
    fs.pipe(f"~/{folder}/full/x.txt", b"x")
    fs.rmdir(f"~/{folder}/full/empty")
    assert not fs.exists(f"~/{folder}/full/empty")
    with pytest.raises(OSError, match="not empty"):
        fs.rmdir(f"~/{folder}/full")
    with pytest.raises(NotADirectoryError):
        fs.rmdir(f"~/{folder}/full/x.txt")


def test_many_ranges_of_several_files_at_once(fs: CS3FileSystem, folder: str) -> None:
    files = {f"~/{folder}/chunk-{i}.bin": os.urandom(2 * 1024 * 1024 + i) for i in range(2)}
    fs.pipe(files)
    wanted = []
    for offset in (1_900_000, 10, 700_000, 0, 2_000_000):
        for path in files:
            wanted.append((path, offset, offset + 4096))
    wanted.append((f"~/{folder}/chunk-0.bin", -100, None))
    wanted.append((f"~/{folder}/missing.bin", 0, 10))
    paths, starts, ends = (list(column) for column in zip(*wanted, strict=True))
    got = fs.cat_ranges(paths, starts, ends)
    for (path, start, end), data in zip(wanted[:-1], got[:-1], strict=True):
        assert data == files[path][start:end]
    assert isinstance(got[-1], FileNotFoundError)
    with pytest.raises(FileNotFoundError):
        fs.cat_ranges(paths, starts, ends, on_error="raise")


def test_rm_of_a_folder_and_what_is_inside_it(fs: CS3FileSystem, folder: str) -> None:
    """A list of paths where some lie inside others (what `find(…, withdirs=True)` and `**`
    globs give) removes them all, with or without `recursive`, as fsspec's own rm does."""
    base = f"~/{folder}"
    for name in ("listed", "found", "globbed"):
        fs.makedirs(f"{base}/{name}/sub")
        fs.pipe({f"{base}/{name}/sub/x.txt": b"x", f"{base}/{name}/y.txt": b"y"})
    fs.rm([f"{base}/listed", f"{base}/listed/sub/x.txt", f"{base}/listed/y.txt"], recursive=True)
    assert not fs.exists(f"{base}/listed")
    fs.rm([*fs.find(f"{base}/found", withdirs=True), f"/~/{folder}/found"])
    assert not fs.exists(f"{base}/found")
    matched = fs.glob(f"{base}/globbed/**")
    assert f"/~/{folder}/globbed/sub/x.txt" in matched
    fs.rm(f"{base}/globbed/**", recursive=True)
    assert not any(fs.exists(name) for name in matched)


def test_the_root_itself_is_never_deleted(
    reva: Revad, server: JupyterServer, secret: Path, folder: str
) -> None:
    fs = filesystem(reva, server, secret, root=f"{server.root}/{folder}")  # type: ignore[attr-defined]
    fs.pipe("~/kept.txt", b"kept")
    for path in ("~", "/~", "", f"{server.root}/{folder}"):  # type: ignore[attr-defined]
        with pytest.raises(PermissionError, match="root cannot be deleted"):
            fs.rm(path, recursive=True)
    assert fs.cat("~/kept.txt") == b"kept"


def test_a_transaction_that_ends_in_an_exception_stores_nothing(fs: CS3FileSystem, folder: str) -> None:
    path = f"~/{folder}/result.csv"
    fs.pipe(path, b"old")

    def write_half() -> None:
        with fs.transaction, fs.open(path, "wb") as out:
            out.write(b"half")
            raise RuntimeError("interrupted")

    with pytest.raises(RuntimeError, match="interrupted"):
        write_half()
    assert fs.cat(path) == b"old"


def test_a_file_never_replaces_a_folder(fs: CS3FileSystem, folder: str, tmp_path: Path) -> None:
    """reva's local drivers replace a folder, and everything in it, by a file uploaded to its
    path: every way of writing a file refuses, as a local file system does."""
    base = f"~/{folder}"
    fs.makedirs(f"{base}/d")
    fs.pipe({f"{base}/d/inside.txt": b"precious", f"{base}/src.txt": b"src"})
    local = tmp_path / "x.txt"
    local.write_bytes(b"x")

    def write() -> None:
        with fs.open(f"{base}/d", "wb") as out:
            out.write(b"over")

    attempts = {
        "pipe": lambda: fs.pipe_file(f"{base}/d", b"over"),
        "put_file": lambda: fs.put_file(str(local), f"{base}/d"),
        "open": write,
        "cp_file": lambda: fs.cp_file(f"{base}/src.txt", f"{base}/d"),
    }
    for how, attempt in attempts.items():
        with pytest.raises(IsADirectoryError, match="a file cannot replace it"):
            attempt()
        assert fs.cat(f"{base}/d/inside.txt") == b"precious", how


def test_a_folder_below_a_file_names_the_file_in_the_way(fs: CS3FileSystem, folder: str) -> None:
    fs.pipe(f"~/{folder}/c.txt", b"c")
    for path in (f"~/{folder}/c.txt/sub", f"~/{folder}/c.txt/sub/deeper"):
        with pytest.raises(FileExistsError, match=r"in the way .*c\.txt'"):
            fs.makedirs(path, exist_ok=True)
    assert fs.cat(f"~/{folder}/c.txt") == b"c"
