"""Docker HEALTHCHECK of the user server: `GET {prefix}api` (no login needed) on its own port.

The address comes from the environment jupyterhub-singleuser itself reads
(JUPYTERHUB_SERVICE_URL, JUPYTERHUB_SERVICE_PREFIX); a wildcard host is probed on loopback.
"""

import os
import sys
import urllib.request
from urllib.parse import urlsplit

url = urlsplit(os.environ.get("JUPYTERHUB_SERVICE_URL") or "http://127.0.0.1:8888/")
host = url.hostname if url.hostname not in (None, "", "0.0.0.0", "::") else "127.0.0.1"
port = url.port or (443 if url.scheme == "https" else 80)
prefix = os.environ.get("JUPYTERHUB_SERVICE_PREFIX") or "/"
if not prefix.endswith("/"):
    prefix += "/"
try:
    with urllib.request.urlopen(f"{url.scheme}://{host}:{port}{prefix}api", timeout=4) as res:
        sys.exit(0 if res.status == 200 else 1)
except OSError as err:
    print(f"user server not healthy: {err}", file=sys.stderr)
    sys.exit(1)
