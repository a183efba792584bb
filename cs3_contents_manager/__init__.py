"""A Jupyter Server contents manager that keeps every file in a CS3 storage (reva)."""

from .checkpoints import CS3FileCheckpoints, CS3VersionCheckpoints
from .manager import CS3FileContentsManager, CS3FileManagerMixin, CS3LargeFileManager

__all__ = [
    "CS3FileCheckpoints",
    "CS3FileContentsManager",
    "CS3FileManagerMixin",
    "CS3LargeFileManager",
    "CS3VersionCheckpoints",
]
