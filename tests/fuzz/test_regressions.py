"""The inputs the fuzz tests found answered 500 (or worse), each pinned to the answer a user
should get. Run against the package as of commit b0c7c83 (before the fixes), every case here
fails as its comment says, except the missing-source rename (fixed in b0c7c83 itself) and the
NFC/NFD check, which documents behaviour that was already right."""

from __future__ import annotations

import base64
from collections import Counter
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.fuzz.answers import assert_user_error, contents_url, json_body, send
from tests.fuzz.conftest import FuzzSite

NOTEBOOK = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}


@pytest.fixture
def client(fuzz_site: FuzzSite, untouched: dict[str, Any]) -> Iterator[httpx.Client]:
    """A client working in a fresh folder `r` with a file `r/a.txt` and a folder `r/d` that holds
    `r/d/inner.txt`; the folder is deleted afterwards."""
    stats: Counter[str] = Counter()
    with fuzz_site.client() as c:
        send(c, stats, "DELETE", contents_url(["r"]))
        for path, model in (
            ("r", {"type": "directory"}),
            ("r/a.txt", {"type": "file", "format": "text", "content": "a"}),
            ("r/d", {"type": "directory"}),
            ("r/d/inner.txt", {"type": "file", "format": "text", "content": "precious"}),
        ):
            assert send(c, stats, "PUT", contents_url(path.split("/")), json_body(model)).status_code == 201
        yield c
        assert send(c, stats, "DELETE", contents_url(["r"])).status_code == 204


def call(c: httpx.Client, method: str, path: str, model: Any = None) -> httpx.Response:
    body = json_body(model) if model is not None else None
    return send(c, Counter(), method, contents_url(path.split("/")), body)


def folder_intact(c: httpx.Client) -> None:
    res = call(c, "GET", "r/d/inner.txt")
    assert res.status_code == 200, res.text
    assert res.json()["content"] == "precious"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    "model",
    [
        {"type": "file", "format": "text", "content": "x"},
        {"type": "notebook", "content": NOTEBOOK},
        {"type": "file", "format": "base64", "content": "eA==", "chunk": 1},
        {"type": "file", "format": "base64", "content": "eA==", "chunk": -1},
    ],
)
def test_a_file_never_replaces_a_folder(client: httpx.Client, fuzz_site: FuzzSite, model: Any) -> None:
    # Was 201: reva's upload replaced the folder, and r/d/inner.txt was gone.
    message = assert_user_error(call(client, "PUT", "r/d", model), fuzz_site.root, "PUT onto a folder")
    assert "is a directory" in message
    folder_intact(client)
    assert call(client, "GET", "r/d").json()["type"] == "directory"


@pytest.mark.timeout(60)
@pytest.mark.parametrize(
    ("method", "path", "model", "status", "words"),
    [
        # Lone surrogates (valid JSON escapes) in content, notebook text and paths: were 500.
        ("PUT", "r/s.txt", {"type": "file", "format": "text", "content": "\udcff"}, 400, "Unicode"),
        (
            "PUT",
            "r/s.txt",
            {"type": "file", "format": "text", "content": "\ud800", "chunk": -1},
            400,
            "Unicode",
        ),
        (
            "PUT",
            "r/s.ipynb",
            {
                "type": "notebook",
                "content": {**NOTEBOOK, "cells": [{"cell_type": "raw", "source": "\udcff"}]},
            },
            400,
            "Invalid notebook",
        ),
        ("PATCH", "r/a.txt", {"path": "r/\udcff.txt"}, 400, "not a valid file name"),
        ("POST", "r", {"copy_from": "r/\udcff"}, 400, "not a valid file name"),
        ("POST", "r", {"ext": "\udcff"}, 400, "not a valid file name"),
        # Names over 255 bytes and paths over 4096 bytes: were 500 with reva's internal error.
        ("GET", "r/" + "x" * 256, None, 400, "too long"),
        ("PUT", "r/" + "\u00e9" * 128, {"type": "file", "format": "text", "content": "x"}, 400, "too long"),
        ("PUT", "r/" + "/".join(["d" * 250] * 17), {"type": "directory"}, 400, "too long"),
        ("PATCH", "r/a.txt", {"path": "r/" + "w" * 300}, 400, "too long"),
        ("POST", "r", {"type": "file", "ext": "x" * 300}, 400, "too long"),
        # Below a file: reva answers INTERNAL (ENOTDIR); was 500.
        ("GET", "r/a.txt/x", None, 404, "does not exist"),
        (
            "PUT",
            "r/a.txt/x",
            {"type": "file", "format": "text", "content": "x"},
            404,
            "No such directory: r/a.txt",
        ),
        ("PUT", "r/a.txt/x", {"type": "directory"}, 404, "No such directory: r/a.txt"),
        ("POST", "r/a.txt/x", {}, 404, "No such directory"),
        # Into a missing folder, into itself (were 500), from a missing file (500 before b0c7c83).
        ("PATCH", "r/a.txt", {"path": "r/nowhere/a.txt"}, 404, "No such directory: r/nowhere"),
        ("PATCH", "r/d", {"path": "r/d/sub"}, 400, "into itself"),
        ("PATCH", "r/missing", {"path": "r/b"}, 404, "does not exist"),
        # Values of the wrong type: were 500 (AttributeError/TypeError in the manager).
        ("PATCH", "r/a.txt", {"path": 0}, 400, "must be a string"),
        ("PATCH", "r/a.txt", {"path": ["r/b"]}, 400, "must be a string"),
        ("PUT", "r/p.txt", {"type": "file", "content": "x", "path": 5}, 400, "must be a string"),
        ("POST", "r", {"copy_from": 5}, 400, "must be a string"),
        ("POST", "r", {"ext": 5}, 400, "must be a string"),
        # Notebooks nbformat cannot write: were 500 "Unexpected error while saving file".
        ("PUT", "r/n.ipynb", {"type": "notebook", "content": "x"}, 400, "Invalid notebook"),
        ("PUT", "r/n.ipynb", {"type": "notebook", "content": None}, 400, "Invalid notebook"),
        ("PUT", "r/n.ipynb", {"type": "notebook", "content": []}, 400, "Invalid notebook"),
        ("PUT", "r/n.ipynb", {"type": "notebook", "content": {"cells": 5}}, 400, "Invalid notebook"),
        (
            "PUT",
            "r/n.ipynb",
            {"type": "notebook", "content": {**NOTEBOOK, "nbformat": 99}},
            400,
            "Invalid notebook",
        ),
        (
            "PUT",
            "r/n.ipynb",
            {"type": "notebook", "content": {**NOTEBOOK, "nbformat": "4"}},
            400,
            "Invalid notebook",
        ),
        (
            "PUT",
            "r/n.ipynb",
            {"type": "notebook", "content": {**NOTEBOOK, "cells": [{"cell_type": "code"}]}},
            400,
            "Invalid notebook",
        ),
    ],
)
def test_bad_input_is_a_user_error(
    client: httpx.Client, fuzz_site: FuzzSite, method: str, path: str, model: Any, status: int, words: str
) -> None:
    res = call(client, method, path, model)
    message = assert_user_error(res, fuzz_site.root, f"{method} {path}")
    assert res.status_code == status, f"{method} {path}: {res.status_code} {message}"
    assert words in message, message
    assert call(client, "GET", "r/a.txt").json()["content"] == "a"
    folder_intact(client)


@pytest.mark.timeout(60)
def test_notebook_named_near_the_limit_saves_renames_and_keeps_its_checkpoint(
    client: httpx.Client, fuzz_site: FuzzSite
) -> None:
    # Was 400 after the save: the checkpoint "<name>-checkpoint.ipynb" was over 255 bytes; the
    # rename moved the file and then failed on the checkpoint.
    name = "n" * 249 + ".ipynb"
    res = call(client, "PUT", f"r/{name}", {"type": "notebook", "content": NOTEBOOK})
    assert res.status_code == 201, res.text
    res = send(client, Counter(), "GET", contents_url(["r", name]) + "/checkpoints")
    assert res.status_code == 200, res.text
    assert [c["id"] for c in res.json()] == ["checkpoint"]
    res = call(client, "PATCH", f"r/{name}", {"path": f"r/m{name[1:]}"})
    assert res.status_code == 200, res.text
    res = send(client, Counter(), "GET", contents_url(["r", f"m{name[1:]}"]) + "/checkpoints")
    assert [c["id"] for c in res.json()] == ["checkpoint"]
    res = send(client, Counter(), "POST", contents_url(["r", f"m{name[1:]}"]) + "/checkpoints/checkpoint")
    assert res.status_code == 204, res.text


@pytest.mark.timeout(60)
def test_nfc_and_nfd_names_are_two_files(client: httpx.Client) -> None:
    """Storage names are bytes: "é" composed and decomposed are different files, each kept and
    listed exactly as written (no normalisation on the way in or out)."""
    composed, decomposed = "caf\u00e9.txt", "cafe\u0301.txt"
    for name in (composed, decomposed):
        model = {"type": "file", "format": "base64", "content": base64.b64encode(name.encode()).decode()}
        assert call(client, "PUT", f"r/{name}", model).status_code == 201
    for name in (composed, decomposed):
        res = send(client, Counter(), "GET", contents_url(["r", name]), params={"format": "base64"})
        assert res.status_code == 200, res.text
        assert (res.json()["name"], base64.b64decode(res.json()["content"])) == (name, name.encode())
    listed = [e["name"] for e in call(client, "GET", "r").json()["content"]]
    assert composed in listed
    assert decomposed in listed
