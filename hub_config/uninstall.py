"""The chart's pre-delete hook: delete the release's user pods before Helm deletes the hub.

KubeSpawner's pods belong to the hub, not to Helm, so `helm uninstall` alone would leave every
running server behind: still holding its memory request, its token refresher asking a hub that
is gone. Each pod is deleted with its own grace period, so a Jupyter server shuts its kernels
down as when the hub stops it; the hook ends once they are gone, so that the uninstall does
not report success while they still run. Users' files are in CS3 and are not touched.

Run as `python -m hub_config.uninstall --namespace NS --selector LABELS`, with a service
account allowed to list and delete pods in that namespace.
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from collections.abc import Sequence

from kubernetes_asyncio import client, config
from kubernetes_asyncio.client.exceptions import ApiException

EXIT_OK = 0
EXIT_FAILED = 1


async def delete_user_pods(namespace: str, selector: str, timeout: float) -> list[str]:
    """Delete the pods matching `selector` and wait until they are gone; their names."""
    config.load_incluster_config()
    async with client.ApiClient() as api:
        core = client.CoreV1Api(api)
        pods = await core.list_namespaced_pod(namespace, label_selector=selector)
        names = sorted(pod.metadata.name for pod in pods.items)
        for name in names:
            try:
                await core.delete_namespaced_pod(name, namespace)
            except ApiException as err:
                if err.status != 404:  # already gone: what was wanted
                    raise
            print(f"Deleting {name}", flush=True)
        deadline = time.monotonic() + timeout
        while True:
            left = await core.list_namespaced_pod(namespace, label_selector=selector)
            if not left.items:
                return names
            if time.monotonic() > deadline:
                still = ", ".join(sorted(pod.metadata.name for pod in left.items))
                raise TimeoutError(f"still running after {timeout:g} s: {still}")
            await asyncio.sleep(1)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m hub_config.uninstall", description=__doc__)
    parser.add_argument("--namespace", required=True, help="Where the release's user pods run.")
    parser.add_argument("--selector", required=True, help="Label selector of the release's user pods.")
    parser.add_argument(
        "--timeout", type=float, default=120.0, help="Seconds to wait for the pods to be gone (default 120)."
    )
    args = parser.parse_args(argv)
    try:
        names = asyncio.run(delete_user_pods(args.namespace, args.selector, args.timeout))
    except ApiException as err:
        print(
            f"Cannot delete the user pods in {args.namespace}: the API server answered "
            f"{err.status} {err.reason}",
            file=sys.stderr,
        )
        return EXIT_FAILED
    except (TimeoutError, config.ConfigException, OSError) as err:
        print(f"Cannot delete the user pods in {args.namespace}: {err}", file=sys.stderr)
        return EXIT_FAILED
    print(f"{len(names)} user pod(s) deleted from {args.namespace}", flush=True)
    return EXIT_OK


if __name__ == "__main__":
    sys.exit(main())
