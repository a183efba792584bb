"""Malformed request bodies get a 400 that says what is wrong, on a real server.

jupyter_server's own contents handler answers 500 "Unhandled error" to these; the CS3 manager
has the server load `cs3_contents_manager.contents_api` ahead of it (the seed configuration
names only the manager class, and that is all these tests configure).
"""

from __future__ import annotations

import pytest

from tests.contents.conftest import Api

BAD_BODIES = [
    (b'{"type": "file", "content": "caf\xe9"}', "not UTF-8 text"),
    (b'["type", "file"]', "must be a JSON object, not an array"),
    (b'"file"', "must be a JSON object, not a string"),
    (b"42", "must be a JSON object, not a number"),
    (b'{"type": ["file"], "content": "x"}', "'type' must be a string, not an array"),
    (b'{"type": {"a": 1}, "content": "x"}', "'type' must be a string, not an object"),
    (b'{"type": "file", "format": 7, "content": "x"}', "'format' must be a string, not a number"),
    (b'{"copy_from": true}', "'copy_from' must be a string, not a boolean"),
    (b'{"type": "file", "content": ', "Invalid JSON"),
]


@pytest.mark.parametrize(("body", "message"), BAD_BODIES)
@pytest.mark.parametrize("method", ["PUT", "POST", "PATCH"])
async def test_bad_bodies_answer_400(api: Api, method: str, body: bytes, message: str) -> None:
    res = await api.client.request(
        method, api.url("x.txt"), content=body, headers={"Content-Type": "application/json"}
    )
    assert res.status_code == 400, res.text
    assert message in res.json()["message"]


async def test_good_bodies_still_work(api: Api) -> None:
    res = await api.put("x.txt", {"type": "file", "format": "text", "content": "café"})
    assert res.status_code == 201, res.text
    res = await api.post("", {"copy_from": f"{api.folder}/x.txt"})
    assert res.status_code == 201, res.text
    res = await api.patch("x.txt", "y.txt")
    assert res.status_code == 200, res.text
    assert (await api.get("y.txt")).json()["content"] == "café"
