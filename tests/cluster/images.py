"""Images made from one static binary, written as docker-archive tars for `ctr images import`.

No container registry is reachable from the test machine, so the pod sandbox image and the
test workload image are a single file each, packed here.
"""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
from pathlib import Path

# The arbitrary but fixed timestamp of every file, so that the same binary gives the same image.
EPOCH = 0


def _layer(binary: Path, path_in_image: str) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        data = binary.read_bytes()
        info = tarfile.TarInfo(path_in_image.lstrip("/"))
        info.size = len(data)
        info.mode = 0o755
        info.mtime = EPOCH
        tar.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def single_binary_image(
    binary: Path, ref: str, out: Path, entrypoint: list[str], user: str = "65532:65532"
) -> Path:
    """Write a one-layer image running `entrypoint` (first element: where the binary goes) as `user`,
    tagged `ref`, to the tar `out`."""
    layer = _layer(binary, entrypoint[0])
    diff_id = "sha256:" + hashlib.sha256(layer).hexdigest()
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Entrypoint": entrypoint, "User": user, "WorkingDir": "/"},
        "rootfs": {"type": "layers", "diff_ids": [diff_id]},
        "history": [{"created_by": f"tests/cluster/images.py: {binary.name}"}],
    }
    config_bytes = json.dumps(config, sort_keys=True).encode()
    config_name = hashlib.sha256(config_bytes).hexdigest() + ".json"
    layer_name = diff_id.removeprefix("sha256:") + "/layer.tar"
    manifest = [{"Config": config_name, "RepoTags": [ref], "Layers": [layer_name]}]
    out.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as tar:
        for name, data in (
            (config_name, config_bytes),
            (layer_name, layer),
            ("manifest.json", json.dumps(manifest).encode()),
        ):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            info.mtime = EPOCH
            tar.addfile(info, io.BytesIO(data))
    return out
