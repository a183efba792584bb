"""User shares and quota over CS3, on the same gateway session as the files.

A share in CS3 is a record in reva's share manager: a resource id, a grantee and a set of
storage permissions. Jupyter users think in roles, so this module speaks two, `viewer` and
`editor`, and turns them into the permission sets CERNBox's web UI uses, so that a share made
here shows the same role there and the other way round.

reva's gateway reports several share failures not as a CS3 status but as a failed gRPC call
whose text names the cause ("error: not found: 7", "already exists"); `_share_errors` reads
those so that a missing share is a 404 and a duplicate a 409 rather than a 500.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from cs3.gateway.v1beta1 import gateway_api_pb2
from cs3.identity.user.v1beta1 import resources_pb2 as user_resources
from cs3.identity.user.v1beta1 import user_api_pb2
from cs3.sharing.collaboration.v1beta1 import collaboration_api_pb2 as collab_api
from cs3.sharing.collaboration.v1beta1 import resources_pb2 as collab
from cs3.storage.provider.v1beta1 import provider_api_pb2, resources_pb2
from google.protobuf import field_mask_pb2

from . import errors
from .storage import CS3Storage, ref

Share = collab.Share
ReceivedShare = collab.ReceivedShare

_READ = (
    "get_path",
    "stat",
    "initiate_file_download",
    "list_grants",
    "list_container",
    "list_file_versions",
    "list_recycle",
)
_WRITE = (
    "create_container",
    "delete",
    "initiate_file_upload",
    "move",
    "restore_file_version",
    "restore_recycle_item",
    "purge_recycle",
)
# What reva's own role conversions (and so CERNBox) call a viewer and an editor.
ROLES: dict[str, resources_pb2.ResourcePermissions] = {
    "viewer": resources_pb2.ResourcePermissions(**dict.fromkeys(_READ, True)),
    "editor": resources_pb2.ResourcePermissions(**dict.fromkeys(_READ + _WRITE, True)),
}
STATES = {
    collab.SHARE_STATE_PENDING: "pending",
    collab.SHARE_STATE_ACCEPTED: "accepted",
    collab.SHARE_STATE_REJECTED: "rejected",
}


def role_of(permissions: resources_pb2.ResourcePermissions) -> str:
    """The role a permission set amounts to: shares made elsewhere carry sets of their own, and
    what matters to the user is whether they may change the file."""
    if permissions.initiate_file_upload or permissions.delete or permissions.move:
        return "editor"
    if permissions.stat or permissions.initiate_file_download:
        return "viewer"
    return "none"


def check_role(role: object) -> resources_pb2.ResourcePermissions:
    if not isinstance(role, str) or role not in ROLES:
        raise errors.InvalidArgument(
            f"Unknown role {role!r}: use one of {', '.join(ROLES)}", reason="Unknown role"
        )
    return ROLES[role]


def check_share_id(share_id: object) -> str:
    if not isinstance(share_id, str) or not share_id or len(share_id) > 200 or "/" in share_id:
        raise errors.InvalidArgument(f"Not a share id: {share_id!r}", reason="Not a share id")
    return share_id


@contextmanager
def _share_errors(op: str, what: str) -> Iterator[None]:
    """Name the cause of share failures that reva reports only in an error's text."""
    try:
        yield
    except errors.PreconditionFailed as err:
        # CODE_ABORTED here is reva's share-hierarchy rule, not a file changing meanwhile.
        raise _hierarchy_conflict(err, what) from None
    except errors.CS3Error as err:
        if type(err) is not errors.CS3Error:
            raise
        text = err.message.lower()
        if "not found" in text:
            raise errors.NotFound(
                f"No such share: {what}", cs3_code=err.cs3_code, reason="No such share"
            ) from None
        if "already exists" in text:
            raise errors.AlreadyExists(
                f"{what} is already shared with this user; change the role of that share instead",
                cs3_code=err.cs3_code,
                reason="Already shared",
            ) from None
        raise


class ShareConflict(errors.AlreadyExists):
    """The share would overlap another share of the same user above or below it: reva keeps
    one share per user along a path (CERNBox ADR-GENERAL-005)."""


def _hierarchy_conflict(err: errors.CS3Error, what: str) -> ShareConflict:
    try:
        conflict = json.loads(err.detail)
    except ValueError:
        conflict = {}
    if not isinstance(conflict, dict):
        conflict = {}
    others = [str(c.get("id", "")) for c in conflict.get("conflicting_shares") or [] if isinstance(c, dict)]
    ids = ", ".join(others) or "unknown"
    if conflict.get("error_type") == "parent_conflict":
        message = (
            f"{what} is already shared with this user through a share of a folder above it "
            f"(share {ids}); change that share instead"
        )
    elif conflict.get("error_type") == "child_conflict":
        message = (
            f"This user already has shares of files or folders inside {what} (share {ids}); "
            "remove those first"
        )
    else:
        message = f"The share of {what} conflicts with another share ({err.detail or 'no details'})"
    return ShareConflict(message, cs3_code=err.cs3_code, reason="Conflicting share", detail=err.detail)


@dataclass(frozen=True)
class UserInfo:
    username: str
    display_name: str
    user_id: user_resources.UserId


class CS3Sharing:
    """Shares and quota of the user a CS3Storage is logged in as."""

    def __init__(self, storage: CS3Storage) -> None:
        self.storage = storage
        self.gateway = storage.gateway
        self._users: dict[tuple[str, str], UserInfo] = {}
        self._me_for: tuple[str, user_resources.UserId] | None = None

    # -- users -----------------------------------------------------------------------------

    async def find_user(self, username: str) -> UserInfo:
        """The account behind a user name; NotFound if the site has no such user."""
        if not isinstance(username, str) or not username.strip():
            raise errors.InvalidArgument("A share needs the user name of the grantee", reason="No user")
        req = user_api_pb2.GetUserByClaimRequest(
            claim="username", value=username, skip_fetching_user_groups=True
        )
        try:
            res = await self.gateway.call("GetUserByClaim", req, idempotent=True, op="user lookup")
        except errors.CS3Error as err:
            # The json user provider answers an unknown name with CODE_INTERNAL.
            if isinstance(err, errors.NotFound) or (
                type(err) is errors.CS3Error and "not found" in err.message.lower()
            ):
                raise errors.NotFound(f"No such user: {username}", reason="No such user") from None
            raise
        user = UserInfo(res.user.username, res.user.display_name, res.user.id)
        self._users[(user.user_id.idp, user.user_id.opaque_id)] = user
        return user

    async def user(self, user_id: user_resources.UserId) -> UserInfo:
        """Who a user id in a share is (cached: share lists repeat the same few people)."""
        key = (user_id.idp, user_id.opaque_id)
        if key not in self._users:
            try:
                res = await self.gateway.call(
                    "GetUser",
                    user_api_pb2.GetUserRequest(user_id=user_id, skip_fetching_user_groups=True),
                    idempotent=True,
                    op="user lookup",
                )
                self._users[key] = UserInfo(res.user.username, res.user.display_name, res.user.id)
            except (errors.NotFound, errors.InvalidArgument):
                # An account that has since gone: still show the share, under its id.
                return UserInfo(user_id.opaque_id, user_id.opaque_id, user_id)
        return self._users[key]

    # -- shares made by the user -----------------------------------------------------------

    async def create_share(self, path: str, username: str, role: str, label: str | None = None) -> Share:
        """Share the file or folder at CS3 `path` with a user, as viewer or editor; `label` is
        how messages name the path (the contents-API path the user knows)."""
        permissions = check_role(role)
        grantee = await self.find_user(username)
        me = await self._me()
        if _same_user(grantee.user_id, me):
            raise errors.InvalidArgument(
                "You cannot share a file with yourself", reason="Share with yourself"
            )
        info = await self.storage.stat(path)
        grant = collab.ShareGrant(
            grantee=resources_pb2.Grantee(type=resources_pb2.GRANTEE_TYPE_USER, user_id=grantee.user_id),
            permissions=collab.SharePermissions(permissions=permissions),
        )
        with _share_errors("share", label or path):
            res = await self.gateway.call(
                "CreateShare",
                collab_api.CreateShareRequest(resource_info=info, grant=grant),
                idempotent=False,
                op="share",
                path=path,
            )
        return res.share

    async def list_shares(self, path: str) -> list[Share]:
        """The user's shares of the resource at CS3 `path` (NotFound if there is none there)."""
        info = await self.storage.stat(path)
        flt = collab.Filter(type=collab.Filter.TYPE_RESOURCE_ID, resource_id=info.id)
        res = await self.gateway.call(
            "ListShares",
            collab_api.ListSharesRequest(filters=[flt]),
            idempotent=True,
            op="share listing",
            path=path,
        )
        # reva matches the filter on the resource id's opaque part only; compare all of it.
        return [s for s in res.shares if _same_resource(s.resource_id, info.id)]

    async def get_share(self, share_id: str) -> Share:
        share_id = check_share_id(share_id)
        with _share_errors("share lookup", share_id):
            res = await self.gateway.call(
                "GetShare",
                collab_api.GetShareRequest(ref=_share_ref(share_id)),
                idempotent=True,
                op="share lookup",
            )
        return res.share

    async def update_share(self, share_id: str, role: str) -> Share:
        """Give an existing share another role."""
        permissions = check_role(role)
        await self._own_share(share_id)
        field = collab_api.UpdateShareRequest.UpdateField(
            permissions=collab.SharePermissions(permissions=permissions)
        )
        with _share_errors("share update", share_id):
            res = await self.gateway.call(
                "UpdateShare",
                collab_api.UpdateShareRequest(ref=_share_ref(share_id), field=field),
                idempotent=True,
                op="share update",
            )
        return res.share

    async def remove_share(self, share_id: str) -> None:
        await self._own_share(share_id)
        with _share_errors("share removal", share_id):
            await self.gateway.call(
                "RemoveShare",
                collab_api.RemoveShareRequest(ref=_share_ref(share_id)),
                idempotent=False,
                op="share removal",
            )

    async def _own_share(self, share_id: str) -> Share:
        """The share if the user created it. reva hands a grantee the share too, but only its
        creator may change it; asking first turns reva's internal error into a clear 403."""
        share = await self.get_share(share_id)
        me = await self._me()
        if not _same_user(share.creator, me):
            raise errors.PermissionDenied(
                f"Only the user who made share {share_id} can change or remove it",
                reason="Not your share",
            )
        return share

    # -- shares received -------------------------------------------------------------------

    async def list_received(self) -> list[ReceivedShare]:
        res = await self.gateway.call(
            "ListReceivedShares",
            collab_api.ListReceivedSharesRequest(),
            idempotent=True,
            op="received shares",
        )
        return list(res.shares)

    async def accept(self, share_id: str) -> ReceivedShare:
        """Accept a share received (reva's `sql` manager records shares as accepted already;
        other managers start them as pending)."""
        share_id = check_share_id(share_id)
        received = next((r for r in await self.list_received() if r.share.id.opaque_id == share_id), None)
        if received is None:
            raise errors.NotFound(f"No such share received: {share_id}", reason="No such share")
        update = collab.ReceivedShare(share=received.share, state=collab.SHARE_STATE_ACCEPTED)
        with _share_errors("share acceptance", share_id):
            res = await self.gateway.call(
                "UpdateReceivedShare",
                collab_api.UpdateReceivedShareRequest(
                    share=update, update_mask=field_mask_pb2.FieldMask(paths=["state"])
                ),
                idempotent=True,
                op="share acceptance",
            )
        return res.share

    async def locate(self, resource_id: resources_pb2.ResourceId) -> resources_pb2.ResourceInfo | None:
        """The shared resource as the user's session sees it, None if the storage does not let
        them reach it (reva's local drivers keep every user inside their own home)."""
        try:
            res = await self.gateway.call(
                "Stat",
                provider_api_pb2.StatRequest(ref=resources_pb2.Reference(resource_id=resource_id)),
                idempotent=True,
                op="stat",
            )
        except (errors.NotFound, errors.PermissionDenied):
            return None
        return res.info

    # -- quota -----------------------------------------------------------------------------

    async def quota(self, path: str) -> tuple[int, int]:
        """(used, total) bytes of the storage space holding CS3 `path`."""
        res = await self.gateway.call(
            "GetQuota", gateway_api_pb2.GetQuotaRequest(ref=ref(path)), idempotent=True, op="quota", path=path
        )
        return int(res.used_bytes), int(res.total_bytes)

    async def _me(self) -> user_resources.UserId:
        """Who the session is logged in as; asked once per reva token, not on every change."""
        token = await self.storage.session.token()
        if self._me_for is None or self._me_for[0] != token:
            res = await self.gateway.call(
                "WhoAmI", gateway_api_pb2.WhoAmIRequest(token=token), idempotent=True, op="whoami"
            )
            self._me_for = (token, res.user.id)
        return self._me_for[1]


def _share_ref(share_id: str) -> collab.ShareReference:
    return collab.ShareReference(id=collab.ShareId(opaque_id=share_id))


def _same_user(a: user_resources.UserId, b: user_resources.UserId) -> bool:
    """reva's sql share manager keeps only the opaque part of user ids (no idp)."""
    return a.opaque_id == b.opaque_id and (not a.idp or not b.idp or a.idp == b.idp)


def _same_resource(a: resources_pb2.ResourceId, b: resources_pb2.ResourceId) -> bool:
    return a.opaque_id == b.opaque_id and (
        not a.storage_id or not b.storage_id or a.storage_id == b.storage_id
    )


def resource_id_json(rid: resources_pb2.ResourceId) -> dict[str, str]:
    return {"storage_id": rid.storage_id, "opaque_id": rid.opaque_id, "space_id": rid.space_id}


def timestamp(ts: Any) -> float | None:
    return ts.seconds + ts.nanos / 1e9 if ts is not None and ts.seconds else None
