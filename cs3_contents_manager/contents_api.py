"""jupyter_server's contents REST API, refusing malformed request bodies with a 400.

jupyter_server's own handler answers 500 "Unhandled error" for some bodies before any contents
manager sees them: bytes that are not UTF-8 (decoded outside its error handling), JSON that is
not an object, or fields such as `type` holding a list. A user, or a script, sending those
deserves to hear what is wrong with the request. This handler checks the body and then leaves
everything to jupyter_server's.

The server loads it ahead of its own handlers through `ServerApp.extra_services`; the CS3
contents managers add it there themselves (see `CS3FileContentsManager.__init__`).
"""

from __future__ import annotations

import json
from typing import Any

from jupyter_server.services.contents import handlers as upstream
from jupyter_server.services.contents.handlers import ContentsHandler
from tornado import web

# Fields of a contents model that are strings (or null) whenever they are present.
STRING_FIELDS = ("type", "format", "path", "name", "copy_from", "ext")


class StrictContentsHandler(ContentsHandler):
    """The contents API with request bodies checked before jupyter_server reads them."""

    def get_json_body(self) -> dict[str, Any] | None:
        body = self.request.body.strip()
        if not body:
            return None
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise web.HTTPError(400, "The request body is not UTF-8 text") from None
        try:
            model = json.loads(text)
        except ValueError:
            raise web.HTTPError(400, "Invalid JSON in body of request") from None
        if model is None:
            return None
        if not isinstance(model, dict):
            raise web.HTTPError(400, f"The request body must be a JSON object, not {_json_type(model)}")
        for field in STRING_FIELDS:
            value = model.get(field)
            if value is not None and not isinstance(value, str):
                raise web.HTTPError(400, f"'{field}' must be a string, not {_json_type(value)}")
        return model


def _json_type(value: object) -> str:
    names = {dict: "an object", list: "an array", str: "a string", bool: "a boolean"}
    for kind, name in names.items():
        if isinstance(value, kind):
            return name
    return "a number" if isinstance(value, int | float) else "null"


# What `ServerApp.extra_services` loads (jupyter_server's `load_handlers` reads this name):
# jupyter_server's contents routes in their order, with this handler in place of its own. The
# order matters: `/api/contents/<path>` would also match the checkpoint routes listed before it.
default_handlers = [
    (route[0], StrictContentsHandler if route[1] is ContentsHandler else route[1], *route[2:])
    for route in upstream.default_handlers
]
