"""jupyter_server's own OpenAPI description of the contents API, checked by schemathesis
against our server (the spec as the server serves it at /api/spec.yaml).

Checks: no server errors (but see below), response bodies conform to the spec's schemas, content types and
headers conform, and every answer the spec does not list is a 4xx with a JSON message.

Where the upstream spec (jupyter_server 2.21.1, `services/api/api.yaml`) is wrong, the loaded
spec is corrected in memory, field by field, instead of dropping the check:

- `Contents.mimetype`, `format`, `hash`, `hash_algorithm` and `size` are declared as strings
  and integers, yet the same spec says they are null when not applicable (and jupyter_server's
  own `validate_model` requires null `content`/`format` without content): made nullable.
- `Contents.content` is declared a string but is a list for folders, an object for notebooks
  and null without content: its type is left open.
- The 400 error schemas declare `reason` a string; jupyter_server answers `"reason": null`
  for most errors: made nullable.
- 204 answers (DELETE, restoring or deleting a checkpoint) have no body and so no
  Content-Type, while the spec's global `produces` applies application/json to every
  answer: `content_type_conformance` is skipped for 204 only (`content_type_unless_no_content`).
- Status codes: the spec lists only some of the codes jupyter_server's handlers answer (no 404
  on PUT/PATCH/DELETE, no 409 on PATCH, no 403/413/415…). `status_code_conformance` would
  fail correct answers, so it is replaced by `undocumented_is_user_error`: an undocumented
  code must be a 4xx with a JSON message.

`not_a_server_error` holds for every request, including bodies that are not JSON objects or
whose `type` is an object: jupyter_server's own handler answers those with 500, the server's
stricter contents API (cs3_contents_manager.contents_api) with 400. They are counted
(tests/fuzz/answers.py:upstream_unhandled).
"""

from __future__ import annotations

import copy
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import jupyter_server
import pytest
import schemathesis
import yaml
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
)

from tests.fuzz.answers import upstream_unhandled
from tests.fuzz.conftest import STATS, FuzzSite

UPSTREAM_SPEC = Path(jupyter_server.__file__).parent / "services" / "api" / "api.yaml"


def corrected(spec: dict[str, Any]) -> dict[str, Any]:
    """The spec with the documented corrections (see the module docstring)."""
    spec = copy.deepcopy(spec)
    fields = spec["definitions"]["Contents"]["properties"]
    for name in ("mimetype", "format", "hash", "hash_algorithm", "size"):
        fields[name]["x-nullable"] = True
    fields["content"] = {"description": fields["content"]["description"], "x-nullable": True}
    for item in spec["paths"].values():
        for operation in item.values():
            if not isinstance(operation, dict):
                continue
            for response in operation.get("responses", {}).values():
                reason = response.get("schema", {}).get("properties", {}).get("reason")
                if reason is not None:
                    reason["x-nullable"] = True
    return spec


# Loaded at collection from jupyter_server's file; test_the_server_serves_this_spec proves it is
# the one the running server publishes. (schemathesis' lazy `from_fixture` loader does not run
# under pytest 9.2: it sets `Item._nodeid`, which pytest no longer has.)
schema = schemathesis.openapi.from_dict(corrected(yaml.safe_load(UPSTREAM_SPEC.read_text()))).include(
    path_regex="^/api/contents"
)


def test_the_server_serves_this_spec(fuzz_site: FuzzSite) -> None:
    res = httpx.get(f"{fuzz_site.server.url}/api/spec.yaml", headers=fuzz_site.server.headers())
    assert res.status_code == 200, res.text
    assert yaml.safe_load(res.text) == yaml.safe_load(UPSTREAM_SPEC.read_text())


def request_body(response: Any) -> bytes:
    body = response.request.body or b""
    return body.encode() if isinstance(body, str) else body


@schemathesis.check
def no_server_error_of_ours(ctx: Any, response: Any, case: Any) -> bool | None:
    """`not_a_server_error`, counting the malformed bodies jupyter_server's own handler would
    fail on (see `upstream_unhandled`): those must get a 400 with a message."""
    if upstream_unhandled(case.method.upper(), request_body(response)):
        assert response.status_code == 400, f"HTTP {response.status_code}: {response.text[:300]}"
        assert response.json()["message"], response.text[:300]
        STATS[f"schemathesis {case.operation.label}"]["malformed bodies"] += 1
    assert response.status_code < 500, f"HTTP {response.status_code}: {response.text[:300]}"
    return True


@schemathesis.check
def content_type_unless_no_content(ctx: Any, response: Any, case: Any) -> bool | None:
    """`content_type_conformance`, except for 204 No Content: an answer without a body has no
    Content-Type, though the spec's global `produces` lists application/json for it too."""
    if response.status_code == 204:
        assert not response.content, "HTTP 204 with a body"
        return True
    return content_type_conformance(ctx, response, case)


@schemathesis.check
def undocumented_is_user_error(ctx: Any, response: Any, case: Any) -> bool | None:
    """A status the spec does not list must be a 4xx a user can read."""
    if case.method.upper() != case.operation.method.upper():
        return None  # schemathesis probing other methods (OPTIONS answers CORS preflights)
    if response.status_code >= 500:
        return None  # judged by no_server_error_of_ours
    documented = {str(code) for code in case.operation.definition.raw.get("responses", {})}
    if str(response.status_code) in documented:
        return None
    assert 400 <= response.status_code < 500, f"undocumented HTTP {response.status_code}"
    body = response.json()
    assert isinstance(body, dict), f"HTTP {response.status_code} without a JSON object"
    assert isinstance(body.get("message"), str), f"HTTP {response.status_code} without a message"
    assert body["message"].strip(), f"HTTP {response.status_code} with an empty message"
    return True


@schema.parametrize()
@settings(
    max_examples=100,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.timeout(120)
def test_contents_api_conforms_to_jupyter_servers_spec(
    case: Any, fuzz_site: FuzzSite, untouched: dict[str, Any]
) -> None:
    stats: Counter[str] = STATS.setdefault(f"schemathesis {case.operation.label}", Counter())
    stats["inputs"] += 1
    response = case.call(base_url=fuzz_site.server.url, headers=fuzz_site.server.headers(), timeout=60)
    stats[f"HTTP {response.status_code}"] += 1
    case.validate_response(
        response,
        checks=[
            no_server_error_of_ours,
            response_schema_conformance,
            content_type_unless_no_content,
            response_headers_conformance,
            undocumented_is_user_error,
        ],
    )
