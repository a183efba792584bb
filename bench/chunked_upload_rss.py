"""Peak memory of a Jupyter server during a chunked upload, CS3 manager vs local disk.

Starts revad and two Jupyter servers side by side: one with CS3LargeFileManager on reva, one
with jupyter_server's own AsyncLargeFileManager on a local folder (the no-network baseline).
Each receives the same upload the way JupyterLab sends it (1 MiB base64 chunks, 1..n, -1),
while the server's resident memory is watched: its kernel high-water mark, reset at idle, and
samples from /proc. Prints idle RSS, peak RSS and peak-minus-idle for both, and their ratio.

`python -m bench` runs `upload` on its own servers too (cs3-jupyter's included, with a time
cap), so the 1 GiB memory figure is part of the one benchmark run.

    python -m bench.chunked_upload_rss [--mib 1024]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import tempfile
import time
from pathlib import Path

from tests.harness.jupyter import JupyterServer, seed_server
from tests.harness.reva import start_revad

from .rss import MiB, peak_bytes, reset_peak, rss_bytes

LOCAL_BASELINE = "jupyter_server.services.contents.largefilemanager.AsyncLargeFileManager"


async def upload(
    server: JupyterServer, mib: int, *, path: str = "upload.bin", time_cap: float | None = None
) -> dict[str, float]:
    """Upload `mib` MiB in 1 MiB chunks; stop early (finished = 0) after `time_cap` seconds.

    Returns idle and peak RSS (bytes), seconds, MiB sent and whether the upload finished.
    """
    pid = server.process.pid  # type: ignore[union-attr]
    block = os.urandom(MiB)
    async with server.client() as client:
        await client.get("/api/contents")  # warm up: log in, open the channel
        await asyncio.sleep(1.0)
        exact = reset_peak(pid)
        idle = rss_bytes(pid)
        peak = idle
        done = asyncio.Event()

        async def sample() -> None:
            nonlocal peak
            while not done.is_set():
                peak = max(peak, rss_bytes(pid))
                await asyncio.sleep(0.02)

        sampler = asyncio.create_task(sample())
        started = time.monotonic()
        sent = 0
        for number in range(1, mib + 1):
            if time_cap is not None and time.monotonic() - started > time_cap:
                break
            content = base64.b64encode(number.to_bytes(4, "big") + block[4:]).decode()
            chunk = -1 if number == mib else number
            res = await client.put(
                f"/api/contents/{path}",
                json={"type": "file", "format": "base64", "chunk": chunk, "content": content},
            )
            res.raise_for_status()
            sent = number
        seconds = time.monotonic() - started
        done.set()
        await sampler
        if exact:
            peak = max(peak, peak_bytes(pid))
        finished = sent == mib
        if finished:
            res = await client.get(f"/api/contents/{path}", params={"content": "0"})
            assert res.json()["size"] == mib * MiB, res.text
    return {"idle": idle, "peak": peak, "seconds": seconds, "mib": sent, "finished": float(finished)}


def report(name: str, r: dict[str, float], mib: int) -> str:
    return (
        f"| {name} | {r['idle'] / MiB:.1f} | {r['peak'] / MiB:.1f} | {(r['peak'] - r['idle']) / MiB:.1f} "
        f"| {r['seconds']:.1f} | {mib / r['seconds']:.0f} |"
    )


async def main(mib: int) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-rss-") as tmp:
        work = Path(tmp)
        reva = start_revad(work / "reva")
        cs3 = seed_server(reva.gateway, work / "cs3", "")
        local = JupyterServer(
            work / "local",
            {"ServerApp": {"contents_manager_class": LOCAL_BASELINE}},
        )
        try:
            cs3.start()
            local.start()
            results = {"CS3LargeFileManager on reva": await upload(cs3, mib)}
            results["AsyncLargeFileManager on local disk"] = await upload(local, mib)
        finally:
            cs3.stop()
            local.stop()
            reva.stop()
    print(f"Chunked upload of {mib} MiB in 1 MiB chunks (RSS of the Jupyter server process)\n")
    print("| manager | idle RSS MiB | peak RSS MiB | peak - idle MiB | seconds | MiB/s |")
    print("|---|---|---|---|---|---|")
    for name, r in results.items():
        print(report(name, r, mib))
    ours, base = results["CS3LargeFileManager on reva"], results["AsyncLargeFileManager on local disk"]
    growth_ratio = (ours["peak"] - ours["idle"]) / max(base["peak"] - base["idle"], 1)
    print(f"\npeak growth ratio (CS3 / local disk): {growth_ratio:.2f}")
    print(f"throughput ratio (CS3 / local disk): {base['seconds'] / ours['seconds']:.2f}")
    verdict = "meets" if ours["peak"] - ours["idle"] < 64 * MiB else "MISSES"
    print(f"target: peak - idle < 64 MiB for CS3LargeFileManager: {verdict}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--mib", type=int, default=1024)
    asyncio.run(main(parser.parse_args().mib))
