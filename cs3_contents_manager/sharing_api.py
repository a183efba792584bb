"""REST endpoints for shares and quota, next to the contents API and on its storage session.

JupyterLab needs to show how much space is left and to let a user share a notebook with a
colleague without leaving it for CERNBox. These handlers use the contents manager's own CS3
session and its path translation, so a path here means what it means in `/api/contents` and
can no more leave the user's root than a contents path can. They are authenticated and
XSRF-checked like the contents API (jupyter_server's `APIHandler`) and authorized as the
`contents` resource: sharing a file is changing who may read it, so a server whose authorizer
makes the contents read-only makes sharing read-only too.

    GET    /api/cs3/quota                       {used, total} bytes of the user's storage
    GET    /api/cs3/shares/<path>               the user's shares of that file or folder
    POST   /api/cs3/shares/<path>               share it: {"user": name, "role": viewer|editor}
    PATCH  /api/cs3/shares/id/<id>              another role: {"role": viewer|editor}
    DELETE /api/cs3/shares/id/<id>              stop sharing
    GET    /api/cs3/shares-received             what others share with the user
    POST   /api/cs3/shares-received/<id>/accept accept one of those

GET and POST always take a path and PATCH and DELETE always a share id, so a folder called
`id` can be shared like any other.
"""

from __future__ import annotations

import json
from typing import Any, NoReturn

from jupyter_server.auth.decorator import authorized
from jupyter_server.base.handlers import APIHandler
from tornado import web

from .cs3 import errors
from .cs3.sharing import STATES, CS3Sharing, ReceivedShare, Share, resource_id_json, role_of, timestamp
from .cs3.storage import CONTAINER
from .paths import to_api_path

AUTH_RESOURCE = "contents"


class CS3SharingHandler(APIHandler):
    """Common parts: the sharing client on the contents manager's session, JSON bodies, and
    storage failures answered with the status and text the contents API would give."""

    auth_resource = AUTH_RESOURCE

    @property
    def manager(self) -> Any:
        cm = self.contents_manager
        if not hasattr(cm, "storage") or not hasattr(cm, "cs3_path"):
            raise web.HTTPError(501, "Sharing needs the CS3 contents manager")
        return cm

    @property
    def sharing(self) -> CS3Sharing:
        cm = self.manager
        client = getattr(cm, "_cs3_sharing", None)
        if client is None or client.storage is not cm.storage:
            client = CS3Sharing(cm.storage)
            cm._cs3_sharing = client
        return client

    def body(self) -> dict[str, Any]:
        raw = self.request.body.strip()
        if not raw:
            return {}
        try:
            model = json.loads(raw.decode("utf-8"))
        except (UnicodeDecodeError, ValueError):
            raise web.HTTPError(400, "The request body is not valid JSON") from None
        if not isinstance(model, dict):
            raise web.HTTPError(400, "The request body must be a JSON object")
        return model

    def reply(self, value: Any, status: int = 200) -> None:
        self.set_status(status)
        self.set_header("Content-Type", "application/json")
        self.finish(json.dumps(value))

    async def api_path_of(self, cs3_path: str) -> str | None:
        """The contents-API path of a CS3 path, None when it lies outside the user's root."""
        try:
            return to_api_path(await self.manager.cs3_root(), cs3_path)
        except web.HTTPError:
            return None

    async def share_json(self, share: Share, api_path: str | None = None) -> dict[str, Any]:
        grantee = await self.sharing.user(share.grantee.user_id)
        if api_path is None:
            info = await self.sharing.locate(share.resource_id)
            api_path = await self.api_path_of(info.path) if info is not None else None
        return {
            "id": share.id.opaque_id,
            "path": api_path,
            "user": grantee.username,
            "display_name": grantee.display_name,
            "role": role_of(share.permissions.permissions),
            "resource_id": resource_id_json(share.resource_id),
            "created": timestamp(share.ctime),
            "modified": timestamp(share.mtime),
        }

    async def received_json(self, received: ReceivedShare) -> dict[str, Any]:
        share = received.share
        owner = await self.sharing.user(share.owner)
        info = await self.sharing.locate(share.resource_id)
        return {
            "id": share.id.opaque_id,
            "state": STATES.get(received.state, "invalid"),
            "role": role_of(share.permissions.permissions),
            "owner": owner.username,
            "owner_display_name": owner.display_name,
            "resource_id": resource_id_json(share.resource_id),
            # Where the user's own session reaches the resource; null when the storage does
            # not let them reach it by id (reva's local drivers).
            "cs3_path": info.path if info is not None else None,
            "name": info.path.rsplit("/", 1)[-1] if info is not None else None,
            "type": ("directory" if info.type == CONTAINER else "file") if info is not None else None,
            "created": timestamp(share.ctime),
        }

    def write_cs3_error(self, err: errors.CS3Error, api_path: str | None = None) -> NoReturn:
        """Answer a storage failure as the contents API would: its status, its reason."""
        raise web.HTTPError(err.http_status, f"{err.reason}: {api_path}" if api_path else err.message)


class QuotaHandler(CS3SharingHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        root = await self.manager.cs3_root()
        try:
            used, total = await self.sharing.quota(root)
        except errors.CS3Error as err:
            self.write_cs3_error(err)
        self.reply({"used": used, "total": total})


class SharesHandler(CS3SharingHandler):
    """Shares of a path (GET, POST) and of a share id (PATCH, DELETE on `id/<id>`)."""

    async def _cs3_path(self, path: str) -> str:
        if not path.strip("/"):
            raise web.HTTPError(400, "Choose a file or folder to share, not the whole root")
        cs3_path = await self.manager.cs3_path(path)
        # What the contents API does not show (hidden files, unless allowed) is not shared.
        if hasattr(self.manager, "_refuse_hidden"):
            self.manager._refuse_hidden(path)
        return cs3_path

    @staticmethod
    def _share_id(path: str) -> str:
        prefix, _, share_id = path.partition("/")
        if prefix != "id" or not share_id:
            raise web.HTTPError(405, "Change or remove a share by its id: /api/cs3/shares/id/<id>")
        return share_id

    @web.authenticated
    @authorized
    async def get(self, path: str = "") -> None:
        cs3_path = await self._cs3_path(path)
        try:
            shares = await self.sharing.list_shares(cs3_path)
            models = [await self.share_json(s, path.strip("/")) for s in shares]
        except errors.CS3Error as err:
            self.write_cs3_error(err, path)
        self.reply(models)

    @web.authenticated
    @authorized
    async def post(self, path: str = "") -> None:
        cs3_path = await self._cs3_path(path)
        model = self.body()
        user, role = model.get("user"), model.get("role")
        if not isinstance(user, str) or not user:
            raise web.HTTPError(400, "'user' must name the user to share with")
        if role not in ("viewer", "editor"):
            raise web.HTTPError(400, f"Unknown role {role!r}: use viewer or editor")
        try:
            share = await self.sharing.create_share(cs3_path, user, role, label=path.strip("/"))
            result = await self.share_json(share, path.strip("/"))
        except errors.NotFound as err:
            # Either the grantee or the file: say which.
            raise web.HTTPError(
                404, err.message if err.reason == "No such user" else f"{err.reason}: {path}"
            ) from None
        except errors.CS3Error as err:
            self.write_cs3_error(err, path if err.path else None)
        self.reply(result, 201)

    @web.authenticated
    @authorized
    async def patch(self, path: str = "") -> None:
        share_id = self._share_id(path)
        role = self.body().get("role")
        if role not in ("viewer", "editor"):
            raise web.HTTPError(400, f"Unknown role {role!r}: use viewer or editor")
        try:
            share = await self.sharing.update_share(share_id, role)
            result = await self.share_json(share)
        except errors.CS3Error as err:
            self.write_cs3_error(err)
        self.reply(result)

    @web.authenticated
    @authorized
    async def delete(self, path: str = "") -> None:
        share_id = self._share_id(path)
        try:
            await self.sharing.remove_share(share_id)
        except errors.CS3Error as err:
            self.write_cs3_error(err)
        self.set_status(204)
        self.finish()


class ReceivedSharesHandler(CS3SharingHandler):
    @web.authenticated
    @authorized
    async def get(self) -> None:
        try:
            models = [await self.received_json(r) for r in await self.sharing.list_received()]
        except errors.CS3Error as err:
            self.write_cs3_error(err)
        self.reply(models)


class AcceptShareHandler(CS3SharingHandler):
    @web.authenticated
    @authorized
    async def post(self, share_id: str) -> None:
        try:
            received = await self.sharing.accept(share_id)
            result = await self.received_json(received)
        except errors.CS3Error as err:
            self.write_cs3_error(err)
        self.reply(result)


# What `ServerApp.extra_services` loads; the manager adds this module there (SERVER_APIS).
default_handlers = [
    (r"/api/cs3/quota/?", QuotaHandler),
    (r"/api/cs3/shares-received/?", ReceivedSharesHandler),
    (r"/api/cs3/shares-received/([^/]+)/accept/?", AcceptShareHandler),
    (r"/api/cs3/shares/(.*)", SharesHandler),
]
