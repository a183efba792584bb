"""A real single-node Kubernetes cluster, started and stopped by the tests.

etcd, kube-apiserver, kube-controller-manager, kube-scheduler, containerd (with runc and the
CNI bridge plugins), kubelet, kube-proxy and kube-router's network policy controller run as
child processes of the test, every one
with its files in one work folder and its log in `<name>.log` there. Readiness is what a user
of the cluster would check: the API server's /readyz, the node reporting Ready, kube-proxy's
healthz (it answers 200 only once its rules are written), containerd answering over its socket.

The machine is shared and has no systemd, so the cluster leaves as little behind as it can:
its API and component ports are free loopback ports (the API server and kubelet also listen
on the node address, which pods need to reach them), its bridge, sockets, state and mounts
are its own, and `stop` deletes every pod through the API (so the kubelet tears networks
down), then kills what is left, unmounts everything below the work folder, removes its
bridge, the rules of kube-proxy and kube-router, kube-router's ipsets and its cgroups, and
restores the sysctls it changed. Only one cluster can run on a machine at a time: kube-proxy
and kube-router own the host's KUBE-* iptables chains.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shlex
import shutil
import signal
import ssl
import subprocess
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

import httpx

from tests.harness.ports import free_port
from tests.harness.process import ManagedProcess, Probe, log_tail

from .images import single_binary_image
from .pki import KeyPair, Pki

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
BUILD = REPO / "build"

NODE_NAME = "cs3-test-node"
CLUSTER_CIDR = "10.244.0.0/16"
POD_SUBNET = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/16"
API_SERVICE_IP = "10.96.0.1"
DNS_SERVICE_IP = "10.96.0.10"
# A bridge of our own name: Docker's docker0 or another CNI's cni0 may exist on the machine.
BRIDGE = "cs3k8s0"
RUNC = Path("/usr/sbin/runc")
# Sysctls the pod network needs: routed traffic from a pod to a Service's cluster IP (it
# leaves the pod through the bridge's gateway address) and bridged traffic seen by iptables,
# which kube-proxy's DNAT rules need for pods on the same bridge.
SYSCTLS = {
    "net/ipv4/ip_forward": "1",
    "net/bridge/bridge-nf-call-iptables": "1",
}


class ClusterError(RuntimeError):
    """The cluster could not be started, or a wait on it timed out; the message has the logs."""


# -- what the build produced ---------------------------------------------------------------


def _module_version(go_mod: Path, module: str) -> str:
    for line in go_mod.read_text().splitlines():
        parts = line.split()
        if module in parts and parts[0] not in ("replace", "=>") and "=>" not in parts:
            return parts[parts.index(module) + 1]
    raise ClusterError(f"{go_mod} does not require {module}")


def _source_hash(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()[:12]


@dataclass(frozen=True)
class Binaries:
    """The files tests/cluster/build.sh makes, named as it names them."""

    build: Path = BUILD

    @property
    def kubernetes_version(self) -> str:
        return _module_version(HERE / "kube" / "go.mod", "k8s.io/kubernetes")

    def kube(self, name: str) -> Path:
        return self.build / f"{name}-{self.kubernetes_version}"

    @property
    def etcd(self) -> Path:
        return self.build / f"etcd-{_module_version(HERE / 'kube' / 'go.mod', 'go.etcd.io/etcd/server/v3')}"

    def _containerd_version(self) -> str:
        return _module_version(HERE / "containerd" / "go.mod", "github.com/containerd/containerd/v2")

    @property
    def containerd(self) -> Path:
        return self.build / f"containerd-{self._containerd_version()}"

    @property
    def ctr(self) -> Path:
        return self.build / f"ctr-{self._containerd_version()}"

    @property
    def shim(self) -> Path:
        return self.build / f"containerd-shim-runc-v2-{self._containerd_version()}"

    @property
    def cni_dir(self) -> Path:
        version = _module_version(HERE / "containerd" / "go.mod", "github.com/containernetworking/plugins")
        return self.build / f"cni-plugins-{version}"

    @property
    def pause(self) -> Path:
        return self.build / f"pause-{_source_hash(HERE / 'kube' / 'pause' / 'main.go')}"

    @property
    def netcheck(self) -> Path:
        return self.build / f"netcheck-{_source_hash(HERE / 'kube' / 'netcheck' / 'main.go')}"

    @property
    def coredns_version(self) -> str:
        return _module_version(HERE / "coredns" / "go.mod", "github.com/coredns/coredns")

    @property
    def coredns(self) -> Path:
        return self.build / f"coredns-{self.coredns_version}"

    @property
    def kube_router(self) -> Path:
        version = _module_version(
            HERE / "kube-router" / "go.mod", "github.com/cloudnativelabs/kube-router/v2"
        )
        return self.build / f"kube-router-{version}"

    def all(self) -> list[Path]:
        kube = ["kube-apiserver", "kube-controller-manager", "kube-scheduler", "kubelet", "kube-proxy"]
        kube.append("kubectl")
        files = [self.kube(name) for name in kube]
        files += [self.etcd, self.containerd, self.ctr, self.shim, self.pause, self.netcheck, self.coredns]
        files.append(self.kube_router)
        files += [self.cni_dir / p for p in ("bridge", "host-local", "loopback", "portmap", "firewall")]
        return files

    def missing(self) -> list[Path]:
        return [path for path in self.all() if not path.exists()]


def node_address() -> str:
    """The source address of the default route: what the kubelet registers and pods reach the
    API server on (a loopback address would mean the pod's own loopback)."""
    out = subprocess.run(["ip", "-o", "-4", "route", "get", "1.1.1.1"], capture_output=True, text=True)
    words = out.stdout.split()
    if out.returncode != 0 or "src" not in words:
        raise ClusterError(f"no default route to take the node address from: {out.stderr.strip()}")
    return words[words.index("src") + 1]


def _interface_mtu(address: str) -> int:
    out = subprocess.run(["ip", "-o", "-4", "addr", "show"], capture_output=True, text=True, check=True)
    for line in out.stdout.splitlines():
        parts = line.split()
        if len(parts) > 3 and parts[3].split("/")[0] == address:
            return int(Path(f"/sys/class/net/{parts[1]}/mtu").read_text())
    return 1500


# -- the components --------------------------------------------------------------------------


@dataclass
class Component(ManagedProcess):
    """One daemon of the cluster; its log is `<workdir>/<name>.log`."""

    error: ClassVar[type[Exception]] = ClusterError
    tail_lines: ClassVar[int] = 30

    label: str
    workdir: Path
    argv: list[str]
    env: dict[str, str] | None = None
    process: subprocess.Popen[bytes] | None = field(default=None, init=False)

    @property
    def name(self) -> str:  # type: ignore[override]
        return self.label

    @property
    def log_path(self) -> Path:
        return self.workdir / f"{self.label}.log"

    def start_and_wait(self, probe: Probe, timeout: float) -> None:
        self.spawn(self.argv, cwd=self.workdir, env=self.env)
        self.wait_ready(probe, timeout)


def _tls_context(ca: Path, client: KeyPair | None) -> ssl.SSLContext:
    ctx = ssl.create_default_context(cafile=str(ca))
    if client is not None:
        ctx.load_cert_chain(str(client.cert), str(client.key))
    return ctx


def _insecure_get(url: str) -> Probe:
    """A probe of a component's healthz on its self-signed serving certificate."""

    def probe() -> str | None:
        try:
            res = httpx.get(url, verify=False, timeout=2)
        except httpx.HTTPError as err:
            return f"{type(err).__name__}: {err}"
        return None if res.status_code == 200 else f"{url} answered HTTP {res.status_code}: {res.text[:200]}"

    return probe


def _kubeconfig(path: Path, server: str, ca: Path, user: KeyPair) -> Path:
    # JSON is YAML: no YAML writer is needed.
    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": "cs3", "cluster": {"server": server, "certificate-authority": str(ca)}}],
        "users": [
            {"name": "user", "user": {"client-certificate": str(user.cert), "client-key": str(user.key)}}
        ],
        "contexts": [{"name": "cs3", "context": {"cluster": "cs3", "user": "user"}}],
        "current-context": "cs3",
    }
    path.write_text(json.dumps(config, indent=2))
    return path


# -- the API, as the tests use it --------------------------------------------------------------


class Api:
    """A small client of the cluster's REST API, authenticated as a cluster admin."""

    def __init__(self, server: str, ca: Path, admin: KeyPair) -> None:
        self.client = httpx.Client(base_url=server, verify=_tls_context(ca, admin), timeout=15)

    def request(self, method: str, path: str, body: Any = None, **params: Any) -> httpx.Response:
        return self.client.request(method, path, json=body, params=params or None)

    def get(self, path: str, **params: Any) -> Any:
        res = self.request("GET", path, **params)
        res.raise_for_status()
        return res.json() if res.headers.get("content-type", "").startswith("application/json") else res.text

    def create(self, path: str, body: Any) -> Any:
        res = self.request("POST", path, body)
        if res.status_code not in (200, 201):
            raise ClusterError(f"POST {path} answered HTTP {res.status_code}: {res.text}")
        return res.json()

    def close(self) -> None:
        self.client.close()


# -- the cluster -------------------------------------------------------------------------------


@dataclass
class Cluster:
    """A single-node cluster in `workdir`; `start()` returns once its node is Ready."""

    workdir: Path
    binaries: Binaries = field(default_factory=Binaries)
    node_ip: str = field(default_factory=node_address)
    verbosity: int = 2
    components: list[Component] = field(default_factory=list, init=False)
    timings: dict[str, float] = field(default_factory=dict, init=False)
    api: Api | None = field(default=None, init=False)
    _saved_sysctls: dict[str, str] = field(default_factory=dict, init=False)

    def __post_init__(self) -> None:
        self.workdir = Path(self.workdir).resolve()
        self.ports = {
            name: free_port()
            for name in (
                "etcd-client",
                "etcd-peer",
                "etcd-metrics",
                "apiserver",
                "controller-manager",
                "scheduler",
                "kubelet",
                "kubelet-healthz",
                "proxy-healthz",
                "proxy-metrics",
            )
        }
        tag = _source_hash(HERE / "kube" / "pause" / "main.go")
        self.pause_image = f"localhost/cs3-test/pause:{tag}"
        self.netcheck_image = (
            f"localhost/cs3-test/netcheck:{_source_hash(HERE / 'kube' / 'netcheck' / 'main.go')}"
        )
        self.coredns_image = f"localhost/cs3-test/coredns:{self.binaries.coredns_version}"

    # -- addresses and paths -----------------------------------------------------------------

    @property
    def server(self) -> str:
        return f"https://{self.node_ip}:{self.ports['apiserver']}"

    @property
    def containerd_socket(self) -> Path:
        return self.workdir / "containerd" / "containerd.sock"

    @property
    def admin_kubeconfig(self) -> Path:
        return self.workdir / "kubeconfig" / "admin.kubeconfig"

    def path(self, *parts: str) -> Path:
        p = self.workdir.joinpath(*parts)
        p.mkdir(parents=True, exist_ok=True)
        return p

    def component(self, label: str) -> Component:
        for comp in self.components:
            if comp.label == label:
                return comp
        raise KeyError(label)

    def logs(self, *labels: str, lines: int = 30) -> str:
        return "\n".join(log_tail(self.workdir / f"{label}.log", label, lines) for label in labels)

    # -- start -------------------------------------------------------------------------------

    def start(self, timeout: float = 180.0) -> None:
        missing = self.binaries.missing()
        if missing:
            raise ClusterError(
                "cluster binaries are missing (run `make cluster-binaries`): "
                + ", ".join(str(p) for p in missing)
            )
        if os.geteuid() != 0:
            raise ClusterError("a cluster needs root (mounts, cgroups, network namespaces, iptables)")
        started = time.monotonic()
        self.workdir.mkdir(parents=True, exist_ok=True)
        try:
            self._prepare_host()
            self._write_pki()
            self._start_etcd()
            self._start_apiserver()
            self._start_controllers()
            self._start_containerd()
            self._import_images()
            self._start_kubelet()
            self._start_proxy()
            self._start_policies()
            self.wait_node_ready(deadline=started + timeout)
            self.wait_service_account("default", deadline=started + timeout)
            self._deploy_coredns(deadline=started + timeout)
        except BaseException:
            self.stop()
            raise
        self.timings["ready"] = time.monotonic() - started

    def _mark(self, what: str, since: float) -> None:
        self.timings[what] = time.monotonic() - since

    def _prepare_host(self) -> None:
        for key, value in SYSCTLS.items():
            path = Path("/proc/sys") / key
            if not path.exists():
                raise ClusterError(f"{path} is missing: the kernel needs br_netfilter for a pod network")
            old = path.read_text().strip()
            if old != value:
                self._saved_sysctls[key] = old
                path.write_text(value)
        bin_dir = self.path("bin")
        # containerd finds its shim and the runtime by name on PATH.
        for name, target in (("containerd-shim-runc-v2", self.binaries.shim), ("runc", RUNC)):
            link = bin_dir / name
            if not link.exists():
                link.symlink_to(target)

    def _write_pki(self) -> None:
        pki = self.pki = Pki(self.path("pki"))
        ip = self.node_ip
        self.certs = {
            "etcd-server": pki.issue(
                "etcd-server", "etcd", dns=("localhost",), ips=("127.0.0.1",), server=True
            ),
            "apiserver-etcd": pki.issue("apiserver-etcd-client", "kube-apiserver-etcd-client", client=True),
            "apiserver": pki.issue(
                "apiserver",
                "kube-apiserver",
                dns=(
                    "kubernetes",
                    "kubernetes.default",
                    "kubernetes.default.svc",
                    "kubernetes.default.svc.cluster.local",
                    "localhost",
                ),
                ips=(ip, API_SERVICE_IP, "127.0.0.1"),
                server=True,
            ),
            "apiserver-kubelet": pki.issue(
                "apiserver-kubelet-client", "kube-apiserver-kubelet-client", ("system:masters",), client=True
            ),
            "admin": pki.issue("admin", "cs3-test-admin", ("system:masters",), client=True),
            "controller-manager": pki.issue(
                "controller-manager", "system:kube-controller-manager", client=True
            ),
            "scheduler": pki.issue("scheduler", "system:kube-scheduler", client=True),
            "kubelet": pki.issue("kubelet", f"system:node:{NODE_NAME}", ("system:nodes",), client=True),
            "kubelet-serving": pki.issue(
                "kubelet-serving",
                f"system:node:{NODE_NAME}",
                ("system:nodes",),
                dns=(NODE_NAME,),
                ips=(ip,),
                server=True,
            ),
            "proxy": pki.issue("kube-proxy", "system:kube-proxy", client=True),
        }
        self.sa_key = pki.signing_key("service-account")
        # The aggregation layer's own CA, as kubeadm makes it: the scheduler and the controller
        # manager read it from the API server (extension-apiserver-authentication) and log an
        # error every few seconds while it is missing.
        self.front_proxy = Pki(self.path("pki", "front-proxy"), "cs3-test-front-proxy-ca")
        self.certs["front-proxy-client"] = self.front_proxy.issue(
            "front-proxy-client", "front-proxy-client", client=True
        )
        folder = self.path("kubeconfig")
        self.kubeconfigs = {
            name: _kubeconfig(folder / f"{name}.kubeconfig", self.server, pki.ca, self.certs[name])
            for name in ("admin", "controller-manager", "scheduler", "kubelet", "proxy")
        }

    def _add(self, label: str, argv: Sequence[str | Path], env: dict[str, str] | None = None) -> Component:
        comp = Component(label, self.workdir, [str(a) for a in argv], env)
        self.components.append(comp)
        return comp

    def _start_etcd(self) -> None:
        since = time.monotonic()
        cert = self.certs["etcd-server"]
        client = f"https://127.0.0.1:{self.ports['etcd-client']}"
        peer = f"http://127.0.0.1:{self.ports['etcd-peer']}"
        metrics = f"http://127.0.0.1:{self.ports['etcd-metrics']}"
        self.etcd_url = client
        etcd = self._add(
            "etcd",
            [
                self.binaries.etcd,
                "--name=cs3",
                f"--data-dir={self.path('etcd')}",
                f"--listen-client-urls={client}",
                f"--advertise-client-urls={client}",
                f"--listen-peer-urls={peer}",
                f"--initial-advertise-peer-urls={peer}",
                f"--initial-cluster=cs3={peer}",
                f"--listen-metrics-urls={metrics}",
                f"--cert-file={cert.cert}",
                f"--key-file={cert.key}",
                f"--trusted-ca-file={self.pki.ca}",
                "--client-cert-auth",
                # A test cluster's etcd lives for minutes: no need to sync every write to disk
                # on a disk that other builds share.
                "--unsafe-no-fsync",
                "--log-level=warn",
            ],
        )
        etcd.start_and_wait(_insecure_get(f"{metrics}/health"), 30)
        self._mark("etcd", since)

    def _start_apiserver(self) -> None:
        since = time.monotonic()
        etcd_client = self.certs["apiserver-etcd"]
        serving = self.certs["apiserver"]
        kubelet_client = self.certs["apiserver-kubelet"]
        apiserver = self._add(
            "kube-apiserver",
            [
                self.binaries.kube("kube-apiserver"),
                f"--etcd-servers={self.etcd_url}",
                f"--etcd-cafile={self.pki.ca}",
                f"--etcd-certfile={etcd_client.cert}",
                f"--etcd-keyfile={etcd_client.key}",
                f"--bind-address={self.node_ip}",
                f"--advertise-address={self.node_ip}",
                f"--secure-port={self.ports['apiserver']}",
                f"--tls-cert-file={serving.cert}",
                f"--tls-private-key-file={serving.key}",
                f"--client-ca-file={self.pki.ca}",
                f"--kubelet-client-certificate={kubelet_client.cert}",
                f"--kubelet-client-key={kubelet_client.key}",
                f"--kubelet-certificate-authority={self.pki.ca}",
                "--kubelet-preferred-address-types=InternalIP",
                "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
                f"--service-account-key-file={self.sa_key.cert}",
                f"--service-account-signing-key-file={self.sa_key.key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                "--authorization-mode=Node,RBAC",
                # As kubeadm does: privileged pods are allowed by the API and refused where Pod
                # Security says so (the node agents of later steps run privileged).
                "--allow-privileged=true",
                # PodSecurity is on by default; NodeRestriction is what a kubeadm cluster adds.
                "--enable-admission-plugins=NodeRestriction",
                f"--requestheader-client-ca-file={self.front_proxy.ca}",
                "--requestheader-allowed-names=front-proxy-client",
                "--requestheader-username-headers=X-Remote-User",
                "--requestheader-group-headers=X-Remote-Group",
                "--requestheader-extra-headers-prefix=X-Remote-Extra-",
                f"--proxy-client-cert-file={self.certs['front-proxy-client'].cert}",
                f"--proxy-client-key-file={self.certs['front-proxy-client'].key}",
                "--profiling=false",
                f"--cert-dir={self.path('kube-apiserver')}",
                f"--v={self.verbosity}",
            ],
        )
        self.api = Api(self.server, self.pki.ca, self.certs["admin"])
        api = self.api

        def readyz() -> str | None:
            try:
                res = api.request("GET", "/readyz")
            except httpx.HTTPError as err:
                return f"{type(err).__name__}: {err}"
            return (
                None
                if res.status_code == 200
                else f"/readyz answered HTTP {res.status_code}: {res.text[-300:]}"
            )

        apiserver.start_and_wait(readyz, 90)
        self._mark("kube-apiserver", since)

    def _start_controllers(self) -> None:
        since = time.monotonic()
        cm_config = self.kubeconfigs["controller-manager"]
        cm = self._add(
            "kube-controller-manager",
            [
                self.binaries.kube("kube-controller-manager"),
                f"--kubeconfig={cm_config}",
                f"--authentication-kubeconfig={cm_config}",
                f"--authorization-kubeconfig={cm_config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['controller-manager']}",
                f"--cert-dir={self.path('kube-controller-manager')}",
                "--leader-elect=false",
                "--use-service-account-credentials",
                f"--service-account-private-key-file={self.sa_key.key}",
                f"--root-ca-file={self.pki.ca}",
                f"--cluster-signing-cert-file={self.pki.ca}",
                f"--cluster-signing-key-file={self.pki.ca_key}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                f"--cluster-cidr={CLUSTER_CIDR}",
                "--profiling=false",
                f"--v={self.verbosity}",
            ],
        )
        sched_config = self.kubeconfigs["scheduler"]
        sched = self._add(
            "kube-scheduler",
            [
                self.binaries.kube("kube-scheduler"),
                f"--kubeconfig={sched_config}",
                f"--authentication-kubeconfig={sched_config}",
                f"--authorization-kubeconfig={sched_config}",
                "--bind-address=127.0.0.1",
                f"--secure-port={self.ports['scheduler']}",
                f"--cert-dir={self.path('kube-scheduler')}",
                "--leader-elect=false",
                "--profiling=false",
                f"--v={self.verbosity}",
            ],
        )
        cm.start_and_wait(_insecure_get(f"https://127.0.0.1:{self.ports['controller-manager']}/healthz"), 60)
        sched.start_and_wait(_insecure_get(f"https://127.0.0.1:{self.ports['scheduler']}/healthz"), 60)
        self._mark("controllers", since)

    def _containerd_env(self) -> dict[str, str]:
        return {**os.environ, "PATH": f"{self.workdir / 'bin'}:{os.environ.get('PATH', '/usr/bin:/bin')}"}

    def _write_cni(self) -> None:
        conflist = {
            "cniVersion": "1.0.0",
            "name": "cs3-pods",
            "plugins": [
                {
                    "type": "bridge",
                    "bridge": BRIDGE,
                    "isGateway": True,
                    "ipMasq": True,
                    # A pod reaching itself through its own Service comes back over its port.
                    "hairpinMode": True,
                    "mtu": _interface_mtu(self.node_ip),
                    "ipam": {
                        "type": "host-local",
                        "ranges": [[{"subnet": POD_SUBNET}]],
                        "routes": [{"dst": "0.0.0.0/0"}],
                        "dataDir": str(self.path("cni", "ipam")),
                    },
                },
                # Docker, when it runs on the machine, sets the FORWARD policy to DROP; the
                # firewall plugin accepts the pods' traffic explicitly.
                {"type": "firewall", "backend": "iptables"},
                {"type": "portmap", "capabilities": {"portMappings": True}},
            ],
        }
        (self.path("cni", "net.d") / "10-cs3.conflist").write_text(json.dumps(conflist, indent=2))

    def _start_containerd(self) -> None:
        since = time.monotonic()
        self._write_cni()
        root = self.path("containerd", "root")
        state = self.path("containerd", "state")
        config = f"""\
version = 3
root = {json.dumps(str(root))}
state = {json.dumps(str(state))}

[grpc]
  address = {json.dumps(str(self.containerd_socket))}

[ttrpc]
  address = {json.dumps(str(self.containerd_socket) + ".ttrpc")}

[plugins.'io.containerd.cri.v1.images']
  snapshotter = 'overlayfs'
  [plugins.'io.containerd.cri.v1.images'.pinned_images]
    sandbox = {json.dumps(self.pause_image)}

[plugins.'io.containerd.cri.v1.runtime']
  enable_selinux = false
  # The pods' network namespaces are files below the work folder, not in /run/netns.
  netns_mounts_under_state_dir = true
  # The machine gives root no CAP_SYS_RESOURCE, so no process may lower its oom_score_adj
  # below its parent's: containerd's -998 for sandboxes (and the kubelet's -997 for
  # Guaranteed pods) would fail every start. This caps them at containerd's own score.
  restrict_oom_score_adj = true
  [plugins.'io.containerd.cri.v1.runtime'.containerd]
    default_runtime_name = 'runc'
    [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc]
      runtime_type = 'io.containerd.runc.v2'
      [plugins.'io.containerd.cri.v1.runtime'.containerd.runtimes.runc.options]
        BinaryName = {json.dumps(str(RUNC))}
        SystemdCgroup = false
        # runc's state lives in the work folder, not in the machine-wide /run/containerd/runc.
        Root = {json.dumps(str(self.workdir / "containerd" / "runc"))}
  [plugins.'io.containerd.cri.v1.runtime'.cni]
    bin_dirs = [{json.dumps(str(self.binaries.cni_dir))}]
    conf_dir = {json.dumps(str(self.workdir / "cni" / "net.d"))}

[plugins.'io.containerd.grpc.v1.cri']
  disable_tcp_service = true

# NRI listens on a fixed socket (/var/run/nri/nri.sock) that another containerd may own.
[plugins.'io.containerd.nri.v1.nri']
  disable = true

[plugins.'io.containerd.internal.v1.opt']
  path = {json.dumps(str(self.workdir / "containerd" / "opt"))}
"""
        config_path = self.workdir / "containerd" / "config.toml"
        config_path.write_text(config)
        containerd = self._add(
            "containerd",
            [self.binaries.containerd, "--config", config_path, "--log-level", "info"],
            env=self._containerd_env(),
        )

        def answers() -> str | None:
            if not self.containerd_socket.exists():
                return "no socket yet"
            res = self.ctr("version", check=False)
            return None if res.returncode == 0 else res.stderr.strip()[-300:]

        containerd.start_and_wait(answers, 30)
        self._mark("containerd", since)

    def ctr(self, *args: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run ctr against this cluster's containerd, in the CRI's namespace."""
        argv = [
            str(self.binaries.ctr),
            "--address",
            str(self.containerd_socket),
            "--namespace",
            "k8s.io",
            *args,
        ]
        res = subprocess.run(
            argv, capture_output=True, text=True, timeout=timeout, env=self._containerd_env()
        )
        if check and res.returncode != 0:
            raise ClusterError(f"{' '.join(argv)} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def kubectl(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """kubectl as the cluster's admin; ClusterError unless it exits 0."""
        argv = [str(self.binaries.kube("kubectl")), "--kubeconfig", str(self.admin_kubeconfig), *args]
        res = subprocess.run(argv, capture_output=True, text=True, timeout=timeout)
        if res.returncode != 0:
            raise ClusterError(f"kubectl {' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
        return res

    def import_image(self, tar: Path) -> None:
        self.ctr("images", "import", "--platform", "linux/amd64", str(tar))

    def _import_images(self) -> None:
        since = time.monotonic()
        images = self.path("images")
        # The sandbox runs as the pods' user under `restricted`; upstream pause uses 65535 too.
        pause = single_binary_image(
            self.binaries.pause, self.pause_image, images / "pause.tar", ["/pause"], user="65535:65535"
        )
        netcheck = single_binary_image(
            self.binaries.netcheck, self.netcheck_image, images / "netcheck.tar", ["/netcheck"]
        )
        coredns = single_binary_image(
            self.binaries.coredns, self.coredns_image, images / "coredns.tar", ["/coredns"]
        )
        for tar in (pause, netcheck, coredns):
            self.import_image(tar)
        self._mark("images", since)

    def _start_kubelet(self) -> None:
        since = time.monotonic()
        serving = self.certs["kubelet-serving"]
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1",
            "kind": "KubeletConfiguration",
            # The machine runs cgroup v1, which kubelet 1.35+ refuses unless told otherwise.
            "failCgroupV1": False,
            "failSwapOn": False,
            "cgroupDriver": "cgroupfs",
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": self.node_ip,
            "port": self.ports["kubelet"],
            "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1",
            "healthzPort": self.ports["kubelet-healthz"],
            "tlsCertFile": str(serving.cert),
            "tlsPrivateKeyFile": str(serving.key),
            "authentication": {
                "anonymous": {"enabled": False},
                "webhook": {"enabled": True},
                "x509": {"clientCAFile": str(self.pki.ca)},
            },
            "authorization": {"mode": "Webhook"},
            "clusterDomain": "cluster.local",
            "clusterDNS": [DNS_SERVICE_IP],
            "podLogsDir": str(self.path("pod-logs")),
            "rotateCertificates": False,
            "serverTLSBootstrap": False,
            # The images come from `ctr import` and cannot be pulled again: never collect them.
            "imageGCHighThresholdPercent": 100,
            "imageGCLowThresholdPercent": 99,
            # The disk is shared with builds; a test pod is not evicted because others fill it.
            "evictionHard": {
                "nodefs.available": "1%",
                "imagefs.available": "1%",
                "memory.available": "100Mi",
            },
            "staticPodPath": "",
            "shutdownGracePeriod": "0s",
        }
        config_path = self.workdir / "kubelet" / "config.json"
        self.path("kubelet")
        config_path.write_text(json.dumps(config, indent=2))
        kubelet = self._add(
            "kubelet",
            [
                self.binaries.kube("kubelet"),
                f"--config={config_path}",
                f"--kubeconfig={self.kubeconfigs['kubelet']}",
                f"--root-dir={self.path('kubelet', 'root')}",
                f"--cert-dir={self.path('kubelet', 'pki')}",
                f"--hostname-override={NODE_NAME}",
                f"--node-ip={self.node_ip}",
                f"--v={self.verbosity}",
            ],
            env=self._containerd_env(),
        )

        def healthz() -> str | None:
            try:
                res = httpx.get(f"http://127.0.0.1:{self.ports['kubelet-healthz']}/healthz", timeout=2)
            except httpx.HTTPError as err:
                return f"{type(err).__name__}: {err}"
            return None if res.status_code == 200 else f"healthz answered HTTP {res.status_code}"

        kubelet.start_and_wait(healthz, 60)
        self._mark("kubelet", since)

    def _start_proxy(self) -> None:
        since = time.monotonic()
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1",
            "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(self.kubeconfigs["proxy"])},
            "hostnameOverride": NODE_NAME,
            "mode": "iptables",
            "clusterCIDR": CLUSTER_CIDR,
            "bindAddress": self.node_ip,
            "healthzBindAddress": f"127.0.0.1:{self.ports['proxy-healthz']}",
            "metricsBindAddress": f"127.0.0.1:{self.ports['proxy-metrics']}",
            # Leave the host's conntrack table size and timeouts as they are.
            "conntrack": {
                "maxPerCore": 0,
                "min": 0,
                "tcpEstablishedTimeout": "0s",
                "tcpCloseWaitTimeout": "0s",
            },
            # NodePorts on 127.0.0.1 would need route_localnet=1 on the host.
            "iptables": {"localhostNodePorts": False},
        }
        config_path = self.workdir / "kube-proxy.json"
        config_path.write_text(json.dumps(config, indent=2))
        proxy = self._add(
            "kube-proxy",
            [self.binaries.kube("kube-proxy"), f"--config={config_path}", f"--v={self.verbosity}"],
        )
        # kube-proxy's healthz answers 200 once it has written the rules of every Service.
        proxy.start_and_wait(_insecure_get(f"http://127.0.0.1:{self.ports['proxy-healthz']}/healthz"), 60)
        self._mark("kube-proxy", since)

    def _start_policies(self) -> None:
        """kube-router's network policy controller alone (no routing, no service proxy: the
        bridge and kube-proxy do those), so that NetworkPolicies are enforced, with iptables
        and ipsets on the bridge's traffic (br_netfilter)."""
        since = time.monotonic()
        router = self._add(
            "kube-router",
            [
                self.binaries.kube_router,
                "--run-firewall=true",
                "--run-router=false",
                "--run-service-proxy=false",
                f"--kubeconfig={self.admin_kubeconfig}",
                f"--hostname-override={NODE_NAME}",
                f"--service-cluster-ip-range={SERVICE_CIDR}",
                # Its health endpoint answers before the first sync and binds every address.
                "--health-port=0",
                f"--v={self.verbosity}",
            ],
            env={**os.environ, "NODE_NAME": NODE_NAME},
        )

        def synced() -> str | None:
            # The first full sync ends by accepting what the policies have marked as allowed.
            res = subprocess.run(
                ["iptables", "-w", "-S", "KUBE-ROUTER-FORWARD"], capture_output=True, text=True
            )
            return None if "0x20000/0x20000 -j ACCEPT" in res.stdout else "no KUBE-ROUTER-FORWARD rules yet"

        router.start_and_wait(synced, 60)
        self._mark("kube-router", since)

    def _deploy_coredns(self, deadline: float) -> None:
        """CoreDNS as kubeadm deploys it (service kube-dns at DNS_SERVICE_IP, port 53), as a user
        and without a capability: the pod's own network namespace lets unprivileged processes
        bind port 53 (a sysctl Kubernetes counts as safe)."""
        since = time.monotonic()
        assert self.api is not None
        api = self.api
        labels = {"k8s-app": "kube-dns"}
        corefile = """\
.:53 {
    errors
    health :8080 {
        lameduck 5s
    }
    ready :8181
    kubernetes cluster.local in-addr.arpa ip6.arpa {
        pods insecure
        fallthrough in-addr.arpa ip6.arpa
        ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf
    cache 30
    loop
    reload
    loadbalance
}
"""
        objects: list[tuple[str, dict[str, Any]]] = [
            (
                "/api/v1/namespaces/kube-system/serviceaccounts",
                {"metadata": {"name": "coredns"}},
            ),
            (
                "/apis/rbac.authorization.k8s.io/v1/clusterroles",
                {
                    "metadata": {"name": "system:coredns"},
                    "rules": [
                        {
                            "apiGroups": [""],
                            "resources": ["endpoints", "services", "pods", "namespaces"],
                            "verbs": ["list", "watch"],
                        },
                        {
                            "apiGroups": ["discovery.k8s.io"],
                            "resources": ["endpointslices"],
                            "verbs": ["list", "watch"],
                        },
                    ],
                },
            ),
            (
                "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
                {
                    "metadata": {"name": "system:coredns"},
                    "roleRef": {
                        "apiGroup": "rbac.authorization.k8s.io",
                        "kind": "ClusterRole",
                        "name": "system:coredns",
                    },
                    "subjects": [{"kind": "ServiceAccount", "name": "coredns", "namespace": "kube-system"}],
                },
            ),
            (
                "/api/v1/namespaces/kube-system/configmaps",
                {"metadata": {"name": "coredns"}, "data": {"Corefile": corefile}},
            ),
            (
                "/apis/apps/v1/namespaces/kube-system/deployments",
                {
                    "metadata": {"name": "coredns", "labels": labels},
                    "spec": {
                        "replicas": 1,
                        "selector": {"matchLabels": labels},
                        "template": {
                            "metadata": {"labels": labels},
                            "spec": {
                                "serviceAccountName": "coredns",
                                # CoreDNS forwards to the node's resolvers, not to itself.
                                "dnsPolicy": "Default",
                                "priorityClassName": "system-cluster-critical",
                                "securityContext": {
                                    "runAsNonRoot": True,
                                    "runAsUser": 65532,
                                    "runAsGroup": 65532,
                                    "seccompProfile": {"type": "RuntimeDefault"},
                                    "sysctls": [
                                        {"name": "net.ipv4.ip_unprivileged_port_start", "value": "53"}
                                    ],
                                },
                                "containers": [
                                    {
                                        "name": "coredns",
                                        "image": self.coredns_image,
                                        "imagePullPolicy": "Never",
                                        "args": ["-conf", "/etc/coredns/Corefile"],
                                        "ports": [
                                            {"name": "dns", "containerPort": 53, "protocol": "UDP"},
                                            {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                                            {"name": "metrics", "containerPort": 9153},
                                        ],
                                        "readinessProbe": {
                                            "httpGet": {"path": "/ready", "port": 8181},
                                            "periodSeconds": 1,
                                        },
                                        "livenessProbe": {
                                            "httpGet": {"path": "/health", "port": 8080},
                                            "periodSeconds": 10,
                                        },
                                        "securityContext": {
                                            "allowPrivilegeEscalation": False,
                                            "capabilities": {"drop": ["ALL"]},
                                            "readOnlyRootFilesystem": True,
                                        },
                                        "volumeMounts": [
                                            {"name": "config", "mountPath": "/etc/coredns", "readOnly": True}
                                        ],
                                    }
                                ],
                                "volumes": [{"name": "config", "configMap": {"name": "coredns"}}],
                            },
                        },
                    },
                },
            ),
            (
                "/api/v1/namespaces/kube-system/services",
                {
                    "metadata": {"name": "kube-dns", "labels": labels},
                    "spec": {
                        "selector": labels,
                        "clusterIP": DNS_SERVICE_IP,
                        "ports": [
                            {"name": "dns", "port": 53, "targetPort": 53, "protocol": "UDP"},
                            {"name": "dns-tcp", "port": 53, "targetPort": 53, "protocol": "TCP"},
                            {"name": "metrics", "port": 9153, "targetPort": 9153},
                        ],
                    },
                },
            ),
        ]
        for path, body in objects:
            api.create(path, body)

        def available() -> str | None:
            deployment = api.get("/apis/apps/v1/namespaces/kube-system/deployments/coredns")
            status = deployment.get("status", {})
            return None if status.get("availableReplicas", 0) >= 1 else f"status {status}"

        timeout = max(deadline - time.monotonic(), 1)
        self.wait_for("CoreDNS becoming available", available, timeout, ("kubelet", "containerd"))
        self._mark("coredns", since)

    # -- waits the tests use ---------------------------------------------------------------

    def wait_for(
        self, what: str, check: Callable[[], str | None], timeout: float, logs: Sequence[str] = ()
    ) -> None:
        """Poll `check` (None when satisfied, else what it saw) for `timeout` seconds; on timeout
        raise with the last observation and the log tails of `logs` (default: all components)."""
        deadline = time.monotonic() + timeout
        last = "not checked yet"
        while time.monotonic() < deadline:
            for comp in self.components:
                if not comp.running:
                    raise ClusterError(f"while waiting for {what}: {comp.explain_exit()}")
            try:
                seen = check()
            except httpx.HTTPError as err:
                seen = f"{type(err).__name__}: {err}"
            if seen is None:
                return
            last = seen
            time.sleep(0.5)
        labels = list(logs) or [c.label for c in self.components]
        raise ClusterError(
            f"{what} did not happen within {timeout:.0f} s (last seen: {last})\n{self.logs(*labels)}"
        )

    def wait_node_ready(self, deadline: float) -> None:
        since = time.monotonic()
        assert self.api is not None
        api = self.api

        def ready() -> str | None:
            res = api.request("GET", f"/api/v1/nodes/{NODE_NAME}")
            if res.status_code != 200:
                return f"node {NODE_NAME}: HTTP {res.status_code}"
            conditions = {c["type"]: c for c in res.json()["status"].get("conditions", [])}
            cond = conditions.get("Ready")
            if cond and cond["status"] == "True":
                return None
            return f"node Ready={cond and cond['status']}: {cond and cond.get('message')}"

        self.wait_for(
            "the node becoming Ready", ready, max(deadline - time.monotonic(), 1), ("kubelet", "containerd")
        )
        self._mark("node-ready", since)

    def wait_service_account(self, namespace: str, deadline: float) -> None:
        """Wait for the namespace's default service account: the API refuses pods before the
        controller manager has made it."""
        assert self.api is not None
        api = self.api

        def exists() -> str | None:
            res = api.request("GET", f"/api/v1/namespaces/{namespace}/serviceaccounts/default")
            return None if res.status_code == 200 else f"HTTP {res.status_code}"

        timeout = max(deadline - time.monotonic(), 1)
        self.wait_for(
            f"the service account {namespace}/default", exists, timeout, ("kube-controller-manager",)
        )

    def wait_pod(self, namespace: str, name: str, timeout: float, phase: str | None = None) -> dict[str, Any]:
        """Wait until the pod is Ready (or has reached `phase`); return it."""
        assert self.api is not None
        api = self.api
        seen: dict[str, Any] = {}

        def check() -> str | None:
            pod = api.get(f"/api/v1/namespaces/{namespace}/pods/{name}")
            seen["pod"] = pod
            status = pod.get("status", {})
            if phase is not None:
                if status.get("phase") == phase:
                    return None
                if status.get("phase") == "Failed" and phase != "Failed":
                    return None
            else:
                conditions = {c["type"]: c["status"] for c in status.get("conditions", [])}
                if conditions.get("Ready") == "True":
                    return None
            waiting = [
                cs.get("state", {}).get("waiting") or cs.get("state", {}).get("terminated")
                for cs in status.get("containerStatuses", [])
            ]
            return f"phase={status.get('phase')} conditions={status.get('conditions')} containers={waiting}"

        self.wait_for(f"pod {namespace}/{name}", check, timeout, ("kubelet", "containerd", "kube-scheduler"))
        return seen["pod"]

    # -- stop --------------------------------------------------------------------------------

    def keep_pod_logs(self) -> None:
        """Copy the containers' logs where deleting their pods does not remove them, so that
        the session's log sweep reads them too (the kubelet drops a deleted pod's logs)."""
        source = self.workdir / "pod-logs"
        if source.is_dir():
            shutil.copytree(source, self.workdir / "pod-logs-kept", dirs_exist_ok=True)

    def stop(self) -> None:
        """Stop everything this cluster started and undo what it changed on the host."""
        since = time.monotonic()
        with contextlib.suppress(OSError):
            self.keep_pod_logs()
        labels = {c.label for c in self.components if c.running}
        if {"kubelet", "kube-apiserver"} <= labels:
            # Without the controllers no Deployment replaces the pods deleted next.
            for comp in self.components:
                if comp.label in ("kube-controller-manager", "kube-scheduler"):
                    comp.stop(timeout=15)
            with contextlib.suppress(Exception):
                self._delete_all_pods()
        for comp in reversed(self.components):
            if comp.label in ("kubelet", "kube-proxy", "kube-router"):
                comp.stop(timeout=15)
        if self.containerd_socket.exists() and any(
            c.label == "containerd" and c.running for c in self.components
        ):
            with contextlib.suppress(Exception):
                self._remove_containers()
        for comp in reversed(self.components):
            comp.stop(timeout=15)
        self._kill_shims()
        if self.api is not None:
            self.api.close()
        if any(c.label == "kube-proxy" for c in self.components):
            with contextlib.suppress(Exception):
                subprocess.run(
                    [str(self.binaries.kube("kube-proxy")), "--cleanup"],
                    capture_output=True,
                    timeout=60,
                )
        self._unmount_all()
        self._clean_iptables()
        self._destroy_ipsets()
        subprocess.run(["ip", "link", "delete", BRIDGE], capture_output=True)
        self._remove_cgroups()
        for key, old in self._saved_sysctls.items():
            with contextlib.suppress(OSError):
                (Path("/proc/sys") / key).write_text(old)
        self._saved_sysctls.clear()
        self._mark("stop", since)

    def _delete_all_pods(self, timeout: float = 60) -> None:
        """Delete every pod so that the kubelet stops its containers and tears down its network."""
        assert self.api is not None
        for ns in self.api.get("/api/v1/namespaces")["items"]:
            name = ns["metadata"]["name"]
            self.api.request("DELETE", f"/api/v1/namespaces/{name}/pods", gracePeriodSeconds=0)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.api.get("/api/v1/pods")["items"]:
                break
            time.sleep(0.5)
        # The kubelet stops a pod's sandbox (and calls CNI DEL) shortly after the pod is gone;
        # removing the stopped containers waits for its garbage collection, which the stop
        # does itself.
        while time.monotonic() < deadline:
            res = self.ctr("tasks", "list", check=False)
            if res.returncode != 0 or " RUNNING" not in res.stdout:
                break
            time.sleep(0.5)

    def _remove_containers(self) -> None:
        for cid in self.ctr("containers", "list", "--quiet", check=False).stdout.split():
            self.ctr("tasks", "kill", "--signal", "SIGKILL", cid, check=False)
            self.ctr("tasks", "delete", "--force", cid, check=False)
            self.ctr("containers", "delete", cid, check=False)

    def _kill_shims(self) -> None:
        """Kill the runc shims of this containerd: they outlive it by design."""
        shim = str(self.binaries.shim)
        address = str(self.containerd_socket)
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                exe = os.readlink(proc / "exe")
                cmdline = (proc / "cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if exe == shim and address.encode() in cmdline:
                with contextlib.suppress(ProcessLookupError):
                    os.kill(int(proc.name), signal.SIGKILL)

    def _unmount_all(self) -> None:
        prefix = str(self.workdir) + "/"
        for _ in range(3):
            mounts = []
            for line in Path("/proc/self/mountinfo").read_text().splitlines():
                point = line.split()[4].replace("\\040", " ")
                if point.startswith(prefix) or point == str(self.workdir):
                    mounts.append(point)
            if not mounts:
                return
            for point in sorted(mounts, key=len, reverse=True):
                subprocess.run(["umount", "--lazy", point], capture_output=True)

    def _clean_iptables(self) -> None:
        """Remove the chains the kubelet (KUBE-FIREWALL, its canaries), kube-proxy and the CNI
        plugins (CNI-*) made, and the host chains' jumps to them; `kube-proxy --cleanup` leaves
        the kubelet's and the plugins' chains behind."""

        def ours(chain: str) -> bool:
            return chain.startswith(("KUBE-", "CNI-"))

        for tool in ("iptables", "ip6tables"):
            for table in ("filter", "nat", "mangle"):
                res = subprocess.run([tool, "-w", "-t", table, "-S"], capture_output=True, text=True)
                if res.returncode != 0:
                    continue
                chains = []
                for line in res.stdout.splitlines():
                    words = shlex.split(line)
                    if words[0] == "-N" and ours(words[1]):
                        chains.append(words[1])
                    elif (
                        words[0] == "-A"
                        and not ours(words[1])
                        and "-j" in words
                        and ours(words[words.index("-j") + 1])
                    ):
                        subprocess.run([tool, "-w", "-t", table, "-D", *words[1:]], capture_output=True)
                for chain in chains:
                    subprocess.run([tool, "-w", "-t", table, "-F", chain], capture_output=True)
                for chain in chains:
                    subprocess.run([tool, "-w", "-t", table, "-X", chain], capture_output=True)

    def _destroy_ipsets(self) -> None:
        """kube-router's sets of pod addresses (its own cleanup does not remove them); only once
        no iptables rule refers to them."""
        res = subprocess.run(["ipset", "list", "-name"], capture_output=True, text=True)
        for name in res.stdout.split():
            if name.startswith(("KUBE-SRC-", "KUBE-DST-")):
                subprocess.run(["ipset", "destroy", name], capture_output=True)

    def _remove_cgroups(self) -> None:
        """Remove the kubelet's (now empty) kubepods cgroups in every v1 hierarchy."""
        for hierarchy in Path("/sys/fs/cgroup").iterdir():
            top = hierarchy / "kubepods"
            if not top.is_dir():
                continue
            for path in sorted(
                (p for p in top.rglob("*") if p.is_dir()), key=lambda p: len(p.parts), reverse=True
            ):
                with contextlib.suppress(OSError):
                    path.rmdir()
            with contextlib.suppress(OSError):
                top.rmdir()

    def __enter__(self) -> Cluster:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@contextlib.contextmanager
def running_cluster(workdir: Path, **kwargs: Any) -> Iterator[Cluster]:
    cluster = Cluster(workdir, **kwargs)
    cluster.start()
    try:
        yield cluster
    finally:
        cluster.stop()


def main(argv: Sequence[str] | None = None) -> None:
    """`python -m tests.cluster.cluster [WORKDIR]`: start a cluster, print how to use it, wait for Ctrl-C."""
    import sys
    import tempfile

    args = list(sys.argv[1:] if argv is None else argv)
    workdir = Path(args[0]) if args else Path(tempfile.mkdtemp(prefix="cs3-cluster-"))

    def interrupt(*_: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, interrupt)
    with running_cluster(workdir) as cluster:
        print(f"cluster ready in {cluster.timings['ready']:.1f} s: {cluster.timings}")
        print(f"kubectl --kubeconfig {cluster.admin_kubeconfig} get nodes")
        with contextlib.suppress(KeyboardInterrupt):
            signal.pause()


if __name__ == "__main__":
    main()
