"""Build jupyter_server contents models from CS3 ResourceInfo.

Times, sizes and permissions come from reva, never from the local clock or disk, so two
servers looking at the same file report the same model.
"""

from __future__ import annotations

import logging
import mimetypes
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

from cs3.storage.provider.v1beta1 import resources_pb2

CONTAINER = resources_pb2.RESOURCE_TYPE_CONTAINER
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)

log = logging.getLogger(__name__)


def cs3_time(info: resources_pb2.ResourceInfo, logger: logging.Logger = log) -> datetime:
    """The modification time reva reports; the epoch (as jupyter_server does) if it is invalid."""
    try:
        return datetime.fromtimestamp(info.mtime.seconds + info.mtime.nanos / 1e9, tz=UTC)
    except (OverflowError, ValueError, OSError):
        logger.warning("Invalid mtime %s for %s", info.mtime.seconds, info.path)
        return EPOCH


def is_dir(info: resources_pb2.ResourceInfo) -> bool:
    return info.type == CONTAINER


def kind_of(api_path: str, info: resources_pb2.ResourceInfo, requested: str | None = None) -> str:
    """'directory', 'notebook' or 'file', as jupyter_server decides it."""
    if is_dir(info):
        return "directory"
    if requested == "notebook" or (requested is None and api_path.endswith(".ipynb")):
        return "notebook"
    return "file"


def writable(info: resources_pb2.ResourceInfo) -> bool:
    perms = info.permission_set
    return bool(perms.create_container if is_dir(info) else perms.initiate_file_upload)


@lru_cache(maxsize=1024)
def _mimetype_of_suffix(suffix: str) -> str | None:
    return mimetypes.guess_type(f"x{suffix}")[0]


def mimetype(api_path: str) -> str | None:
    """The file's mimetype by its name; cached by extension, since a listing of thousands of
    files has only a handful of them and the lookup dominates building each entry."""
    name = api_path.rsplit("/", 1)[-1]
    dot = name.rfind(".")
    if dot <= 0:
        return mimetypes.guess_type(name)[0]
    # Compound suffixes (.tar.gz) map to an encoding, not a type: leave those to mimetypes.
    if name.count(".") > 1:
        return mimetypes.guess_type(name)[0]
    return _mimetype_of_suffix(name[dot:])


def base_model(
    api_path: str, info: resources_pb2.ResourceInfo, kind: str, logger: logging.Logger = log
) -> dict[str, Any]:
    modified = cs3_time(info, logger)
    return {
        "name": api_path.rsplit("/", 1)[-1],
        "path": api_path,
        "type": kind,
        # CS3 exposes no creation time; the modification time is the closest truthful value.
        "last_modified": modified,
        "created": modified,
        "content": None,
        "format": None,
        "mimetype": mimetype(api_path) if kind == "file" else None,
        "size": None if kind == "directory" else int(info.size),
        "writable": writable(info),
        "hash": None,
        "hash_algorithm": None,
    }
