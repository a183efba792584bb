"""Hostile path names through every contents operation of a real Jupyter Server on reva.

For each generated path the test predicts what a user should get: names a storage can hold
round-trip exactly (same bytes, no Unicode normalisation, listed under their parent, renamed,
copied, deleted); anything else (`..`, `.`, NUL, backslashes, hidden names, text that is not
Unicode, names over 255 bytes, paths over 4096 bytes) is a 4xx with a message. No answer is
ever a 5xx, and nothing outside the root changes (`untouched`).
"""

from __future__ import annotations

import fnmatch
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import HealthCheck, given, settings
from jupyter_server.services.contents.manager import ContentsManager

from tests.fuzz.answers import (
    MAX_NAME_BYTES,
    MAX_PATH_BYTES,
    assert_not_server_error,
    assert_user_error,
    contents_url,
    is_text,
    json_body,
    send,
    utf8_len,
)
from tests.fuzz.conftest import FuzzSite
from tests.fuzz.strategies import paths

FIXTURE = "zz-fixture"
SOURCE = f"{FIXTURE}/src.txt"
SOURCE_TEXT = "the fixture file, never to be changed by a refused request\n"

# Names jupyter_server leaves out of listings by default (`*~`, `*.pyc`, …).
HIDE_GLOBS: list[str] = ContentsManager().hide_globs

FUZZ_SETTINGS = settings(
    max_examples=200,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def expected_refusal(segments: list[str], root: str) -> int | None:
    """The status the server must answer for this path (any method), or None if it is valid."""
    joined = "/".join(segments)
    if not is_text(joined):
        return 400  # tornado: the URL is not UTF-8
    parts = [p for p in joined.split("/") if p]
    if any(p in (".", "..") or "\x00" in p or "\\" in p for p in parts):
        return 404  # outside the root
    if any(utf8_len(p) > MAX_NAME_BYTES for p in parts):
        return 400
    if utf8_len("/".join([root, *parts])) > MAX_PATH_BYTES:
        return 400
    if any(p.startswith(".") for p in parts):
        return 0  # hidden: refused, 400 or 404 depending on the operation
    return None


def restore_fixture(client: httpx.Client, stats: Counter[str]) -> None:
    assert send(client, stats, "PUT", contents_url([FIXTURE]), json_body({"type": "directory"})).is_success
    model = {"type": "file", "format": "text", "content": SOURCE_TEXT}
    assert send(client, stats, "PUT", contents_url(SOURCE.split("/")), json_body(model)).is_success


def check_fixture(client: httpx.Client, stats: Counter[str], what: str) -> None:
    res = send(client, stats, "GET", contents_url(SOURCE.split("/")), params={"type": "file"})
    assert res.status_code == 200, f"{what}: the fixture file is gone: {res.text[:200]}"
    assert res.json()["content"] == SOURCE_TEXT, f"{what}: the fixture file changed"


def refused_everywhere(
    client: httpx.Client, stats: Counter[str], site: FuzzSite, segments: list[str], status: int
) -> None:
    url = contents_url(segments)
    what = f"path {segments!r}"
    answers: list[tuple[str, httpx.Response]] = [
        ("GET", send(client, stats, "GET", url)),
        ("GET no content", send(client, stats, "GET", url, params={"content": "0"})),
        (
            "PUT file",
            send(client, stats, "PUT", url, json_body({"type": "file", "format": "text", "content": "x"})),
        ),
        ("PUT dir", send(client, stats, "PUT", url, json_body({"type": "directory"}))),
        ("POST untitled", send(client, stats, "POST", url, json_body({"type": "file"}))),
        ("DELETE", send(client, stats, "DELETE", url)),
        (
            "PATCH to it",
            send(
                client,
                stats,
                "PATCH",
                contents_url(SOURCE.split("/")),
                json_body({"path": "/".join(segments)}),
            ),
        ),
        (
            "POST copy of it",
            send(
                client, stats, "POST", contents_url([FIXTURE]), json_body({"copy_from": "/".join(segments)})
            ),
        ),
        ("POST copy into it", send(client, stats, "POST", url, json_body({"copy_from": SOURCE}))),
    ]
    for op, res in answers:
        assert_user_error(res, site.root, f"{op} {what}")
        if status and op == "GET":
            assert res.status_code == status, f"{op} {what}: HTTP {res.status_code}, expected {status}"
    check_fixture(client, stats, what)


def round_trip(client: httpx.Client, stats: Counter[str], site: FuzzSite, parts: list[str], n: int) -> None:
    """Create, read, list, rename, copy and delete a file at a valid path."""
    path = "/".join(parts)
    what = f"path {parts!r}"
    # Leftovers of an earlier failing run of this example (hypothesis replays it) go first.
    delete(client, stats, parts[0], n)
    for depth in range(1, len(parts)):
        res = send(client, stats, "PUT", contents_url(parts[:depth]), json_body({"type": "directory"}))
        assert res.status_code in (200, 201), f"mkdir {parts[:depth]!r}: {res.status_code} {res.text[:200]}"
    text = f"content of {path}\n"
    res = send(
        client,
        stats,
        "PUT",
        contents_url(parts),
        json_body({"type": "file", "format": "text", "content": text}),
    )
    assert res.status_code == 201, f"PUT {what}: {res.status_code} {res.text[:300]}"
    assert res.json()["path"] == path

    res = send(client, stats, "GET", contents_url(parts), params={"type": "file", "format": "text"})
    assert res.status_code == 200, f"GET {what}: {res.status_code} {res.text[:300]}"
    model = res.json()
    assert (model["name"], model["path"], model["content"]) == (parts[-1], path, text), what

    res = send(client, stats, "GET", contents_url(parts[:-1]))
    assert res.status_code == 200, f"list parent of {what}: {res.text[:300]}"
    listed = parts[-1] in [entry["name"] for entry in res.json()["content"]]
    hidden = any(fnmatch.fnmatch(parts[-1], glob) for glob in HIDE_GLOBS)
    assert listed != hidden, f"{what}: listed {listed}, but hide_globs hide it: {hidden}"

    res = send(client, stats, "PATCH", contents_url(SOURCE.split("/")), json_body({"path": path}))
    assert res.status_code == 409, f"rename onto {what}: {res.status_code} {res.text[:300]}"

    renamed = [*parts[:-1], f"renamed-{n}.txt"]
    res = send(client, stats, "PATCH", contents_url(parts), json_body({"path": "/".join(renamed)}))
    assert res.status_code == 200, f"rename {what}: {res.status_code} {res.text[:300]}"
    assert send(client, stats, "GET", contents_url(parts)).status_code == 404
    res = send(client, stats, "PATCH", contents_url(renamed), json_body({"path": path}))
    assert res.status_code == 200, f"rename back to {what}: {res.status_code} {res.text[:300]}"

    res = send(client, stats, "POST", contents_url(parts[:-1]), json_body({"copy_from": path}))
    if utf8_len(parts[-1]) + len("-Copy1") > MAX_NAME_BYTES:
        # The copy's name ("<name>-Copy1") cannot exist on the storage.
        message = assert_user_error(res, site.root, f"copy {what}")
        assert "too long" in message, f"copy {what}: {message}"
    else:
        assert res.status_code == 201, f"copy {what}: {res.status_code} {res.text[:300]}"
        copy = res.json()["path"]
        res = send(client, stats, "GET", contents_url(copy.split("/")), params={"type": "file"})
        assert res.status_code == 200, f"copy of {what}: {res.text[:300]}"
        assert res.json()["content"] == text, f"copy of {what}"
        if len(parts) == 1:
            delete(client, stats, copy, n)

    delete(client, stats, parts[0], n)
    assert send(client, stats, "GET", contents_url(parts)).status_code == 404


def delete(client: httpx.Client, stats: Counter[str], name: str, n: int) -> None:
    """Delete a top-level file or folder the way a user can on every storage.

    reva's local drivers move deleted entries to a recycle folder under `<name>.d<unix ms>`,
    15 bytes longer than the name: names of 241 to 255 bytes can be created and renamed but
    not deleted there (HTTP 500 "Storage error during delete"). Such names are renamed to a
    short one first; this is the one operation the fuzz does not ask of them.
    """
    if utf8_len(name) > MAX_NAME_BYTES - len(".d1234567890123"):
        stats["long names renamed before delete"] += 1
        short = f"to-delete-{n}"
        res = send(client, stats, "PATCH", contents_url([name]), json_body({"path": short}))
        if res.status_code == 404:
            return
        assert res.status_code == 200, f"rename {name!r}: {res.status_code} {res.text[:300]}"
        name = short
    res = send(client, stats, "DELETE", contents_url([name]))
    assert res.status_code in (204, 404), f"DELETE {name!r}: {res.status_code} {res.text[:300]}"


@pytest.mark.timeout(150)
def test_hostile_paths_never_escape_the_root_nor_fail_the_server(
    fuzz_site: FuzzSite, untouched: dict[str, Any], fuzz_stats: Counter[str]
) -> None:
    with fuzz_site.client() as client:
        restore_fixture(client, fuzz_stats)

        @FUZZ_SETTINGS
        @given(segments=paths)
        def one(segments: list[str]) -> None:
            fuzz_stats["inputs"] += 1
            status = expected_refusal(segments, fuzz_site.root)
            parts = [p for p in "/".join(segments).split("/") if p] if status is None else []
            if status is not None:
                fuzz_stats["refused inputs"] += 1
                refused_everywhere(client, fuzz_stats, fuzz_site, segments, status)
            elif not parts:
                fuzz_stats["root inputs"] += 1
                url = contents_url(segments)
                assert send(client, fuzz_stats, "GET", url).status_code == 200
                for method, body in (("PUT", {"type": "file", "content": "x"}), ("DELETE", None)):
                    res = send(client, fuzz_stats, method, url, json_body(body) if body else None)
                    assert_user_error(res, fuzz_site.root, f"{method} root as {segments!r}")
            else:
                fuzz_stats["round-trip inputs"] += 1
                round_trip(client, fuzz_stats, fuzz_site, parts, fuzz_stats["inputs"])

        one()


@pytest.mark.timeout(60)
def test_query_parameters_of_get(
    fuzz_site: FuzzSite, untouched: dict[str, Any], fuzz_stats: Counter[str]
) -> None:
    """Any type/format/content/hash value on a file, a notebook, a folder or a missing path:
    a model or a 4xx with a message, never a server error."""
    from hypothesis import strategies as st

    targets = {
        "q/text.txt": {"type": "file", "format": "text", "content": "plain text\n"},
        "q/blob.bin": {"type": "file", "format": "base64", "content": "AAEC/w=="},
        "q/nb.ipynb": {
            "type": "notebook",
            "content": {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5},
        },
    }
    valid = {"type": ["file", "notebook", "directory"], "format": ["text", "base64"], "content": ["0", "1"]}
    values = {
        key: st.one_of(
            st.none(),
            st.sampled_from(valid.get(key, ["0", "1"])),
            st.sampled_from(valid.get(key, ["0", "1"])),
            st.sampled_from(["json", "2", "", "-1", "TEXT", "1 ", "\u00e9"]),
            st.text(max_size=8),
        )
        for key in ("type", "format", "content", "hash")
    }
    with fuzz_site.client() as client:
        assert send(
            client, fuzz_stats, "PUT", contents_url(["q"]), json_body({"type": "directory"})
        ).is_success
        for path, model in targets.items():
            assert send(client, fuzz_stats, "PUT", contents_url(path.split("/")), json_body(model)).is_success

        @FUZZ_SETTINGS
        @given(
            path=st.sampled_from([*targets, "q", "q/missing.txt", "q/text.txt/below"]),
            query=st.fixed_dictionaries({}, optional=values),
        )
        def one(path: str, query: dict[str, str | None]) -> None:
            fuzz_stats["inputs"] += 1
            params = {k: v for k, v in query.items() if v is not None}
            res = send(client, fuzz_stats, "GET", contents_url(path.split("/")), params=params)
            what = f"GET {path} {params!r}"
            assert_not_server_error(res, what)
            if res.status_code >= 400:
                assert_user_error(res, fuzz_site.root, what)
                return
            model = res.json()
            assert model["path"] == path, what
            if params.get("content", "1") == "1":
                assert model["content"] is not None, what
                assert model["format"] is not None, what
            if params.get("hash") == "1" and model["type"] != "directory":
                assert model["hash"], what
                assert model["hash_algorithm"], what

        one()
        assert send(client, fuzz_stats, "DELETE", contents_url(["q"])).status_code == 204
