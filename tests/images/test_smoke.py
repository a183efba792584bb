"""Smoke test of the images: build them, then run a user pod's containers against a real reva.

`images/build.sh` builds the debootstrap base images (once per machine), the hub,
singleuser, token-refresher and proxy images and a test-only reva image (the revad of
`make revad` with the harness's config template); docker's layer cache makes an unchanged
image a matter of seconds. Then, on one private docker network:

- `reva`: the real revad (gateway, basic auth, localhome storage, data gateway).
- `hub`: the HUB image running `standin_hub.py` instead of JupyterHub. This is a shortcut:
  the real `/hub/api/cs3/token` returns the access token of an OIDC login, which needs an
  identity provider and a browser (tests/e2e covers that flow with the real hub). The
  stand-in returns a fixed token, the reva password of einstein, only to the server's API
  token, and answers the few hub API calls jupyterhub-singleuser makes.
- `refresher`: the token-refresher image, unmodified, fetching from that endpoint and
  writing the token file into a shared in-memory volume (a pod's `emptyDir`), uid 1000.
- `singleuser`: the singleuser image running `jupyterhub-singleuser` with the arguments
  `hub_config.spawner.server_args` produces (`auth_login_type=basic`, so the "token" file holds
  the password), reading the token file read-only, with a read-only root filesystem like the
  chart's pods.

The test process uploads a file to reva over CS3 and sees it listed by the server's contents
API; files saved through that API are read back from reva over CS3; a kernel of a notebook
reads the CSV beside it with `pd.read_csv("cs3://data.csv")`. Finally a real JupyterHub
starts from the hub image's own command behind the proxy image (the stand-in serves the
discovery document its authenticator needs; nobody logs in).

Without docker the test fails: `.ci/run` installs docker.io and debootstrap and starts dockerd.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from hub_config.spawner import TOKEN_FILE, server_args
from tests.harness.docker import (
    Container,
    DockerError,
    DockerStack,
    build_images,
    docker,
    docker_unavailable,
    image_name,
)
from tests.harness.jupyter import notebook_kernel
from tests.harness.reva import DEMO_USERS, default_binary

from .reva_client import RevaClient

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD_TIMEOUT = 1500
pytestmark = pytest.mark.timeout(BUILD_TIMEOUT + 300)

TARGETS = ["base", "hub", "singleuser", "token-refresher", "proxy", "test-reva"]
PRODUCT_IMAGES = ["hub", "singleuser", "token-refresher", "proxy"]
USER = "einstein"
PASSWORD = DEMO_USERS[USER]
TOKEN_DIR = "/var/run/cs3"
TOKEN_PATH = f"{TOKEN_DIR}/{TOKEN_FILE}"
PREFIX = f"/user/{USER}/"
# What the chart's pods get (hub_config.kubernetes.security_context), as docker options.
LOCKED_DOWN = ["--read-only", "--cap-drop", "ALL", "--security-opt", "no-new-privileges"]


@dataclass
class Pod:
    stack: DockerStack
    reva: Container
    hub: Container
    refresher: Container
    singleuser: Container
    client: RevaClient
    home: str
    server_token: str
    user_token: str
    lab_url: str

    def api(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.lab_url, headers={"Authorization": f"token {self.user_token}"}, timeout=60
        )


@pytest.fixture(scope="module")
def built(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> dict[str, int]:
    """Every image, built or found up to date; the seconds each build step took."""
    reason = docker_unavailable()
    if reason:
        pytest.fail(
            f"the image smoke test needs docker: {reason}. Install docker.io and debootstrap and "
            "start dockerd (`.ci/run` does both).",
            pytrace=False,
        )
    if not default_binary().exists():
        pytest.fail(f"{default_binary()} is missing: run `make revad`", pytrace=False)
    started = time.monotonic()
    timings = build_images(TARGETS, tmp_path_factory.mktemp("images") / "build.log", BUILD_TIMEOUT)
    timings["total"] = round(time.monotonic() - started)
    # Shown in every run's output (CI logs keep the build times), not only on failure.
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")
    if reporter is not None and capture is not None:
        steps = ", ".join(f"{name} {seconds} s" for name, seconds in timings.items())
        with capture.global_and_fixture_disabled():
            reporter.write_line(f"\nimages built or found up to date: {steps}")
    return timings


def wait_for(what: str, probe: object, timeout: float) -> object:
    """Call probe() until it returns something truthy; fail after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    last: object = None
    while time.monotonic() < deadline:
        try:
            last = probe()  # type: ignore[operator]
            if last:
                return last
        except (httpx.HTTPError, DockerError) as err:
            last = err
        time.sleep(0.5)
    raise AssertionError(f"{what} not within {timeout:.0f} s (last: {last!r})")


@pytest.fixture(scope="module")
def pod(built: dict[str, int]) -> Iterator[Pod]:
    stack = DockerStack()
    client = None
    try:
        reva = stack.run("reva", image_name("test-reva"), publish=[19000, 19001])
        client = RevaClient(
            f"127.0.0.1:{reva.port(19000)}", f"http://127.0.0.1:{reva.port(19001)}", USER, PASSWORD
        )
        try:
            client.login(timeout=60)
        except RuntimeError as err:
            raise DockerError(f"{err}\n{reva.logs()}") from err
        home = client.home()

        server_token, user_token = secrets.token_hex(16), secrets.token_hex(16)
        hub = stack.run(
            "hub",
            image_name("hub"),
            "python3",
            "/srv/standin/standin_hub.py",
            env={
                "STANDIN_USER": USER,
                "STANDIN_SERVER_TOKEN": server_token,
                "STANDIN_USER_TOKEN": user_token,
                "STANDIN_ACCESS_TOKEN": PASSWORD,
                "STANDIN_URL": "http://hub:8081",
            },
            mounts=[
                f"type=bind,source={HERE / 'standin_hub.py'},target=/srv/standin/standin_hub.py,readonly"
            ],
            options=["--no-healthcheck", *LOCKED_DOWN],
        )

        # The pod's in-memory emptyDir, owned by the pod's uid.
        tokens = stack.volume("token", "type=tmpfs", "device=tmpfs", "o=size=1m,uid=1000,gid=1000,mode=0700")
        refresher = stack.run(
            "refresher",
            image_name("token-refresher"),
            env={
                "JUPYTERHUB_API_URL": "http://hub:8081/hub/api",
                "JUPYTERHUB_API_TOKEN": server_token,
                "JUPYTERHUB_USER": USER,
                "CS3_TOKEN_PATH": TOKEN_PATH,
                "CS3_TOKEN_REFRESH_MARGIN": "60",
            },
            # The chart runs the sidecar with the server's uid: the token file is 0600.
            user="1000:1000",
            mounts=[f"type=volume,source={tokens},target={TOKEN_DIR}"],
            options=["--health-interval", "1s", *LOCKED_DOWN],
        )
        refresher.wait_healthy(60)

        settings = {"cs3": {"gateway": "reva:19000", "authType": "basic", "rootPath": ""}}
        scopes = json.dumps([f"access:servers!server={USER}/", f"access:servers!user={USER}"])
        singleuser = stack.run(
            "singleuser",
            image_name("singleuser"),
            "jupyterhub-singleuser",
            *server_args(settings, TOKEN_PATH),
            env={
                "JUPYTERHUB_API_URL": "http://hub:8081/hub/api",
                "JUPYTERHUB_API_TOKEN": server_token,
                "JUPYTERHUB_USER": USER,
                "JUPYTERHUB_CLIENT_ID": f"jupyterhub-user-{USER}",
                "JUPYTERHUB_BASE_URL": "/",
                "JUPYTERHUB_SERVICE_PREFIX": PREFIX,
                "JUPYTERHUB_SERVICE_URL": f"http://0.0.0.0:8888{PREFIX}",
                "JUPYTERHUB_OAUTH_CALLBACK_URL": f"{PREFIX}oauth_callback",
                "JUPYTERHUB_OAUTH_ACCESS_SCOPES": scopes,
                "JUPYTERHUB_OAUTH_SCOPES": scopes,
                "JUPYTERHUB_ACTIVITY_URL": f"http://hub:8081/hub/api/users/{USER}/activity",
            },
            publish=[8888],
            mounts=[f"type=volume,source={tokens},target={TOKEN_DIR},readonly"],
            options=[
                "--health-interval",
                "1s",
                *LOCKED_DOWN,
                "--tmpfs",
                "/tmp:rw,nosuid,size=64m",
                "--tmpfs",
                "/home/jovyan:rw,nosuid,size=64m,uid=1000,gid=1000,mode=0755",
            ],
        )
        singleuser.wait_healthy(120)
        yield Pod(
            stack=stack,
            reva=reva,
            hub=hub,
            refresher=refresher,
            singleuser=singleuser,
            client=client,
            home=home,
            server_token=server_token,
            user_token=user_token,
            lab_url=f"http://127.0.0.1:{singleuser.port(8888)}{PREFIX}",
        )
    finally:
        if client is not None:
            client.close()
        stack.close()


def test_image_pins_match_the_test_virtualenv() -> None:
    """The images install the versions the tests ran with (images/lock.py writes the pins)."""
    constraints = {}
    for line in (REPO / "images" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            constraints[name.lower().replace("_", "-").replace(".", "-")] = version
    for path in sorted((REPO / "images" / "requirements").glob("*.txt")):
        text = path.read_text()
        allowed = set(re.findall(r"^# (\S+): \S+, as the virtualenv's", text, re.MULTILINE))
        for line in text.splitlines():
            if line and not line.startswith("#"):
                name, _, version = line.partition("==")
                if name not in allowed:
                    assert constraints.get(name) == version, (
                        f"{path.name}: {line} (virtualenv: {name} {constraints.get(name)})"
                    )
    root = json.loads((REPO / "package.json").read_text())["dependencies"]["configurable-http-proxy"]
    image = json.loads((REPO / "images" / "proxy" / "package.json").read_text())["dependencies"]
    assert image == {"configurable-http-proxy": root}, "run images/lock.py: the proxy image's pin differs"
    lock = json.loads((REPO / "images" / "proxy" / "package-lock.json").read_text())
    assert lock["packages"]["node_modules/configurable-http-proxy"]["version"] == root


def test_images_run_as_non_root(pod: Pod) -> None:
    for name in PRODUCT_IMAGES:
        user = docker("image", "inspect", "-f", "{{.Config.User}}", image_name(name), timeout=20).strip()
        assert user, f"the {name} image names no user: it would run as root"
        assert user.split(":")[0] not in ("0", "root"), f"the {name} image runs as {user!r}"
    for container in (pod.reva, pod.hub, pod.refresher, pod.singleuser):
        assert container.exec("id", "-u").strip() != "0", container.name
    assert docker("run", "--rm", "--entrypoint", "id", image_name("proxy"), "-u", timeout=60).strip() != "0"


def test_refresher_writes_a_private_token_file(pod: Pod) -> None:
    assert pod.refresher.exec("stat", "-c", "%a %u %g", TOKEN_PATH).split() == ["600", "1000", "1000"]
    # The server reads it (same uid) through a read-only mount.
    assert pod.singleuser.exec("cat", TOKEN_PATH) == PASSWORD
    denied = pod.singleuser.exec("sh", "-c", f"touch {TOKEN_DIR}/x 2>&1 || echo denied", check=False)
    assert "denied" in denied
    stats = pod.hub.exec(
        "python3",
        "-c",
        "import urllib.request as r; print(r.urlopen('http://127.0.0.1:8081/standin/stats').read().decode())",
    )
    assert json.loads(stats)["token_requests"] >= 1


def test_server_lists_a_file_uploaded_to_reva(pod: Pod) -> None:
    name = f"from-reva-{secrets.token_hex(4)}.txt"
    pod.client.upload(f"{pod.home}/{name}", b"uploaded over CS3\n")
    with pod.api() as api:
        listing = api.get("api/contents")
        assert listing.status_code == 200, listing.text
        assert name in {item["name"] for item in listing.json()["content"]}
        model = api.get(f"api/contents/{name}", params={"content": "1", "type": "file", "format": "text"})
        assert model.status_code == 200, model.text
        assert model.json()["content"] == "uploaded over CS3\n"
        lab = api.get("lab")
        assert lab.status_code == 200
        assert "JupyterLab" in lab.text


def test_saves_through_the_server_land_in_reva(pod: Pod) -> None:
    text_name = f"saved-{secrets.token_hex(4)}.txt"
    nb_name = f"saved-{secrets.token_hex(4)}.ipynb"
    notebook = {
        "cells": [
            {
                "id": "smoke",
                "cell_type": "code",
                "execution_count": None,
                "metadata": {},
                "outputs": [],
                "source": "1 + 1",
            }
        ],
        "metadata": {},
        "nbformat": 4,
        "nbformat_minor": 5,
    }
    with pod.api() as api:
        saved = api.put(
            f"api/contents/{text_name}", json={"type": "file", "format": "text", "content": "saved by lab\n"}
        )
        assert saved.status_code in (200, 201), saved.text
        saved = api.put(f"api/contents/{nb_name}", json={"type": "notebook", "content": notebook})
        assert saved.status_code in (200, 201), saved.text
    assert pod.client.download(f"{pod.home}/{text_name}") == b"saved by lab\n"
    assert pod.client.stat(f"{pod.home}/{text_name}").size == len(b"saved by lab\n")
    stored = json.loads(pod.client.download(f"{pod.home}/{nb_name}"))
    source = stored["cells"][0]["source"]
    assert ("".join(source) if isinstance(source, list) else source) == "1 + 1"


async def test_a_kernel_in_the_image_reads_the_csv_next_to_its_notebook(pod: Pod) -> None:
    """The documented one-liner in the image as the chart runs it: pandas is there, and
    cs3:// finds reva, the token file and the notebook's folder with nothing configured."""
    from tests.contents.test_server import execute

    folder = f"kernel-{secrets.token_hex(4)}"
    notebook = {"cells": [], "metadata": {}, "nbformat": 4, "nbformat_minor": 5}
    with pod.api() as api:
        assert api.put(f"api/contents/{folder}", json={"type": "directory"}).status_code == 201
        pod.client.upload(f"{pod.home}/{folder}/data.csv", b"city,visitors\nGeneva,3\nZurich,5\n")
        saved = api.put(
            f"api/contents/{folder}/analysis.ipynb", json={"type": "notebook", "content": notebook}
        )
        assert saved.status_code == 201, saved.text
    headers = {"Authorization": f"token {pod.user_token}"}
    async with notebook_kernel(pod.lab_url, headers, f"{folder}/analysis.ipynb") as ws_url:
        code = 'import pandas as pd; print(pd.read_csv("cs3://data.csv")["visitors"].sum())'
        printed = await execute(ws_url, headers, code, timeout=120)
    assert printed.strip() == "8"


def test_hub_image_starts_jupyterhub_behind_the_proxy_image(pod: Pod, tmp_path: Path) -> None:
    """The hub image's own command with a values file, and the proxy image as its proxy."""
    stack = pod.stack
    proxy_token = secrets.token_hex(16)
    proxy = stack.run(
        "proxy",
        image_name("proxy"),
        "--ip=0.0.0.0",
        "--port=8000",
        "--api-ip=0.0.0.0",
        "--api-port=8001",
        "--default-target=http://jupyterhub:8081",
        "--error-target=http://jupyterhub:8081/hub/error",
        env={"CONFIGPROXY_AUTH_TOKEN": proxy_token},
        publish=[8000, 8001],
        options=["--health-interval", "1s", *LOCKED_DOWN],
    )
    values = tmp_path / "values.yaml"
    values.write_text(
        json.dumps(
            {
                "hub": {
                    "bindUrl": "http://0.0.0.0:8000",
                    "hubBindUrl": "http://0.0.0.0:8081",
                    "hubConnectUrl": "http://jupyterhub:8081",
                },
                "proxy": {"apiUrl": "http://proxy:8001", "manage": False},
                "sso": {
                    "issuer": "http://hub:8081",
                    "clientId": "smoke",
                    "clientSecret": "not-a-secret",
                    "callbackUrl": "http://127.0.0.1/hub/oauth_callback",
                },
                "spawner": {"kind": "local", "homeDirTemplate": "/tmp/{username}"},
            }
        )
    )
    values.chmod(0o644)
    hub = stack.run(
        "jupyterhub",
        image_name("hub"),
        env={
            "CS3HUB_VALUES": "/usr/local/etc/jupyterhub/values.yaml",
            "CONFIGPROXY_AUTH_TOKEN": proxy_token,
            "JUPYTERHUB_CRYPT_KEY": secrets.token_hex(32),
        },
        mounts=[f"type=bind,source={values},target=/usr/local/etc/jupyterhub/values.yaml,readonly"],
        # The database and the cookie secret go to the working folder, a volume in the chart.
        options=[
            "--health-interval",
            "1s",
            *LOCKED_DOWN,
            "--tmpfs",
            "/srv/jupyterhub:rw,size=64m,uid=1000,gid=1000,mode=0700",
        ],
    )
    hub.wait_healthy(120)
    proxy.wait_healthy(30)
    public = f"http://127.0.0.1:{proxy.port(8000)}"
    routes_url = f"http://127.0.0.1:{proxy.port(8001)}/api/routes"

    def hub_route() -> dict[str, object] | None:
        routes = httpx.get(routes_url, headers={"Authorization": f"token {proxy_token}"}, timeout=10).json()
        return routes.get("/")

    route = wait_for("the hub's route in the proxy", hub_route, 60)
    assert route["target"] == "http://jupyterhub:8081"  # type: ignore[index]
    assert httpx.get(f"{public}/hub/health", timeout=10).status_code == 200
    login = httpx.get(f"{public}/hub/login", timeout=10)
    assert login.status_code == 200, login.text[:500]
