"""Chunked uploads (JupyterLab's protocol: chunks 1..n, -1 for the last) with chunk numbers out
of order, repeated, negative, zero, huge, not integers, and bogus base64 between them.

The property is a model of the protocol as jupyter_server defines it: chunk 1 starts a file,
any other valid chunk appends in arrival order (starting from the stored file when no upload
is in progress), -1 appends and stores; an invalid chunk is a 400 that changes nothing. After
every -1 the stored bytes must equal the model's, byte for byte.
"""

from __future__ import annotations

import base64
from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.fuzz.answers import assert_user_error, contents_url, json_body, send
from tests.fuzz.conftest import FuzzSite
from tests.fuzz.test_paths import FUZZ_SETTINGS

chunk_numbers = st.one_of(
    st.sampled_from([1, 1, 2, 3, -1, -1]),
    st.integers(min_value=-5, max_value=10),
    st.sampled_from([2**31, 2**63, 2**70, -(2**63), 1.0, 1.5, -1.0, "1", "-1", None, True, False, [], {}]),
)
contents = st.one_of(
    st.binary(max_size=48).map(lambda b: (base64.b64encode(b).decode(), b)),
    st.sampled_from(["!!!!", "abc", "\u00e9\u00e9==", "\udcff", "====", "YQ=\n="]).map(lambda s: (s, None)),
)
steps = st.lists(st.tuples(chunk_numbers, contents), min_size=1, max_size=6)


def valid_chunk(chunk: Any) -> bool:
    return isinstance(chunk, int) and not isinstance(chunk, bool) and (chunk >= 1 or chunk == -1)


def decodable(text: str) -> bytes | None:
    try:
        return base64.b64decode(text.encode("ascii"), validate=False)
    except (ValueError, UnicodeError):
        return None


@pytest.mark.timeout(150)
def test_chunk_sequences_store_exactly_what_the_protocol_says(
    fuzz_site: FuzzSite, untouched: dict[str, Any], fuzz_stats: Counter[str]
) -> None:
    with fuzz_site.client() as client:
        assert send(
            client, fuzz_stats, "PUT", contents_url(["c"]), json_body({"type": "directory"})
        ).is_success

        @FUZZ_SETTINGS
        @given(steps=steps, existing=st.booleans())
        def one(steps: list[tuple[Any, tuple[str, bytes | None]]], existing: bool) -> None:
            fuzz_stats["inputs"] += 1
            url = contents_url(["c", f"up-{fuzz_stats['inputs']}.bin"])
            stored: bytes | None = None
            if existing:
                stored = b"stored before the upload\n"
                model = {"type": "file", "format": "base64", "content": base64.b64encode(stored).decode()}
                assert send(client, fuzz_stats, "PUT", url, json_body(model)).status_code == 201
            spool: bytes | None = None
            for chunk, (text, data) in steps:
                fuzz_stats["chunks"] += 1
                body = {"type": "file", "format": "base64", "chunk": chunk, "content": text}
                res = send(client, fuzz_stats, "PUT", url, json_body(body))
                what = f"chunk {chunk!r} content {text!r} after {steps!r}"
                if data is None:
                    data = decodable(text)
                if data is None or not (chunk is None or valid_chunk(chunk)):
                    assert_user_error(res, fuzz_site.root, what)
                    continue
                assert res.status_code in (200, 201), f"{what}: {res.status_code} {res.text[:300]}"
                if chunk is None:
                    # `"chunk": null` is a plain save: it stores the content and leaves an
                    # upload in progress alone.
                    stored = data
                    assert res.json()["size"] == len(stored), what
                elif chunk == 1 or spool is None:
                    spool = b"" if chunk == 1 else (stored or b"")
                if chunk is not None:
                    spool += data
                    if chunk == -1:
                        stored, spool = spool, None
                        fuzz_stats["completed uploads"] += 1
                    assert res.json()["size"] == len(stored if spool is None else spool), what
                got = send(client, fuzz_stats, "GET", url, params={"format": "base64", "type": "file"})
                if stored is None:
                    assert got.status_code == 404, f"{what}: a file appeared before the last chunk"
                else:
                    assert got.status_code == 200, f"{what}: {got.text[:300]}"
                    assert base64.b64decode(got.json()["content"]) == stored, what

        one()
