"""Hostile request bodies for PUT (save/upload), POST (new/copy) and PATCH (rename).

Models with wrong or missing `type`, `format` and `content`, invalid notebooks, bogus base64,
odd chunk numbers, paths of the wrong type, bodies that are not objects, not JSON or not
UTF-8. A refused request is a 4xx with a message; an accepted one stored what it said.

One class of input jupyter_server's own handler (2.21.1) answers with 500 before any contents
manager runs: bodies that are not UTF-8 (`APIHandler.get_json_body` decodes outside its
`try`), JSON bodies that are not objects (`ContentsHandler.put/post/patch` call `model.get`),
and a `type` that is a list or an object. The server's stricter contents API
(cs3_contents_manager.contents_api) answers them with 400; they are counted as "malformed
bodies". Every input must get an answer below 500.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections import Counter
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.answers import assert_user_error, contents_url, json_body, send, upstream_unhandled
from tests.fuzz.conftest import FuzzSite
from tests.fuzz.strategies import NOTEBOOK, coherent_models, json_values, models_without
from tests.fuzz.test_paths import FUZZ_SETTINGS

bodies = st.one_of(
    coherent_models.map(json_body),
    coherent_models.map(json_body),
    coherent_models.map(json_body),
    models_without.map(json_body),
    models_without.map(json_body),
    models_without.map(json_body),
    json_values.map(json_body),
    st.binary(max_size=40),
    st.sampled_from(
        [b"", b" ", b"{", b"[1]", b'"x"', b"0", b"null", b"NaN", b"\xff\xfe", b'{"type": "file"']
    ).map(bytes),
)


def stored_bytes(model: dict[str, Any]) -> bytes | None:
    """What a plain (not chunked) file save of this model must have stored, if predictable."""
    content, fmt = model.get("content"), model.get("format")
    if model.get("type") != "file" or "chunk" in model or not isinstance(content, str):
        return None
    if fmt in (None, "text"):
        return content.encode("utf-8")
    if fmt == "base64":
        return binascii.a2b_base64(content)
    return None


def make_target(client: httpx.Client, stats: Counter[str], kind: str, n: int) -> str:
    path = {"notebook": f"m/t-{n}.ipynb", "dir": f"m/t-{n}"}.get(kind, f"m/t-{n}.txt")
    model: dict[str, Any] | None = {
        "file": {"type": "file", "format": "text", "content": "before\n"},
        "notebook": {"type": "notebook", "content": NOTEBOOK},
        "dir": {"type": "directory"},
    }.get(kind)
    if model is not None:
        res = send(client, stats, "PUT", contents_url(path.split("/")), json_body(model))
        assert res.status_code == 201, res.text
    return path


@pytest.mark.timeout(150)
def test_hostile_models_get_a_4xx_or_are_stored_as_sent(
    fuzz_site: FuzzSite, untouched: dict[str, Any], fuzz_stats: Counter[str]
) -> None:
    with fuzz_site.client() as client:
        assert send(
            client, fuzz_stats, "PUT", contents_url(["m"]), json_body({"type": "directory"})
        ).is_success

        @FUZZ_SETTINGS
        @given(
            method=st.sampled_from(["PUT", "PUT", "POST", "PATCH"]),
            kind=st.sampled_from(["missing", "file", "notebook", "dir"]),
            body=bodies,
        )
        def one(method: str, kind: str, body: bytes) -> None:
            fuzz_stats["inputs"] += 1
            path = make_target(client, fuzz_stats, kind, fuzz_stats["inputs"])
            res = send(client, fuzz_stats, method, contents_url(path.split("/")), body)
            what = f"{method} {path} ({kind}) {body[:300]!r}"
            if upstream_unhandled(method, body):
                # jupyter_server's own handler fails on these; our contents API answers 400.
                assert res.status_code == 400, f"HTTP {res.status_code} for {what}"
                fuzz_stats["malformed bodies"] += 1
            if res.status_code >= 400:
                assert_user_error(res, fuzz_site.root, what)
                return
            fuzz_stats["accepted"] += 1
            saved = res.json()
            assert isinstance(saved, dict), what
            assert isinstance(saved.get("path"), str), what
            got = send(
                client, fuzz_stats, "GET", contents_url(saved["path"].split("/")), params={"content": "0"}
            )
            assert got.status_code == 200, f"{what}: answered {saved['path']!r} but GET says {got.text[:200]}"
            try:
                model = json.loads(body) if method == "PUT" else None
            except ValueError:
                model = None  # an empty body: jupyter_server creates an untitled file
            expected = stored_bytes(model) if isinstance(model, dict) else None
            if isinstance(model, dict) and model.get("type") == "notebook" and "chunk" not in model:
                # A notebook the server accepted must open again (JupyterLab reopens it).
                got = send(
                    client,
                    fuzz_stats,
                    "GET",
                    contents_url(saved["path"].split("/")),
                    params={"type": "notebook"},
                )
                assert got.status_code == 200, f"{what}: saved, but it does not open: {got.text[:300]}"
                assert got.json()["content"]["nbformat"] >= 4, what
                fuzz_stats["notebooks reopened"] += 1
            if saved["type"] == "directory":
                assert got.json()["type"] == "directory", what
            if expected is not None and saved["type"] == "file":
                got = send(
                    client,
                    fuzz_stats,
                    "GET",
                    contents_url(path.split("/")),
                    params={"format": "base64", "type": "file"},
                )
                assert base64.b64decode(got.json()["content"]) == expected, what
                fuzz_stats["files compared byte for byte"] += 1

        one()
