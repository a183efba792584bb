"""Fault injection for revad: crash and restart it in place, freeze it, cut or slow its network.

`IsolatedRevad` runs a real revad inside a network namespace of its own, joined to the host by
a veth pair. That gives a test a network it may break without touching anyone else's traffic:
packets to revad's ports can be dropped (a black-holed host: connections hang, nothing is
refused), and the link can be slowed so a transfer takes long enough for a crash to land in
the middle of it. A restart keeps the ports, the storage folder and the configuration
(secrets included), as a restarted service would.

Needs root and iproute2 (`ip`, `tc`) and nftables (`nft`).
"""

from __future__ import annotations

import contextlib
import ipaddress
import os
import random
import re
import shutil
import signal
import subprocess
import time
from dataclasses import dataclass, field
from pathlib import Path

from .reva import Revad, RevaError

TOOLS = ("ip", "tc", "nft")


def network_faults_unavailable() -> str | None:
    """Why this machine cannot run network faults, or None when it can."""
    if os.geteuid() != 0:
        return "network fault injection needs root (network namespaces, nftables)"
    missing = [tool for tool in TOOLS if shutil.which(tool) is None]
    if missing:
        return f"network fault injection needs {', '.join(missing)} (Debian: iproute2, nftables)"
    return None


def _run(*args: str) -> str:
    res = subprocess.run(args, capture_output=True, text=True, timeout=30)
    if res.returncode != 0:
        raise RevaError(f"{' '.join(args)} failed ({res.returncode}): {res.stderr.strip()}")
    return res.stdout


def _taken_networks() -> list[ipaddress.IPv4Network]:
    out = _run("ip", "-o", "-4", "addr", "show")
    nets = []
    for line in out.splitlines():
        parts = line.split()
        if "inet" in parts:
            nets.append(ipaddress.ip_interface(parts[parts.index("inet") + 1]).network)
    return nets


_counter = 0
_NAME = re.compile(r"^cs3f-(\d+)x\d+\b")


def sweep_stale_namespaces() -> None:
    """Remove namespaces left behind by test runs that were killed before their teardown."""
    out = subprocess.run(["ip", "netns", "list"], capture_output=True, text=True, timeout=30).stdout
    for line in out.splitlines():
        match = _NAME.match(line)
        if match and not Path(f"/proc/{match.group(1)}").exists():
            subprocess.run(["ip", "netns", "del", line.split()[0]], capture_output=True, timeout=30)


@dataclass
class NetworkNamespace:
    """A network namespace joined to the host by a /30 veth link; the host keeps `.1`."""

    name: str
    host_if: str
    ns_if: str
    host_ip: str
    ns_ip: str

    @classmethod
    def create(cls) -> NetworkNamespace:
        global _counter
        _counter += 1
        sweep_stale_namespaces()
        tag = f"{os.getpid()}x{_counter}"
        taken = _taken_networks()
        rng = random.Random()
        for _ in range(100):
            net = ipaddress.ip_network(
                f"10.{rng.randrange(160, 250)}.{rng.randrange(256)}.{rng.randrange(0, 256, 4)}/30"
            )
            if not any(net.overlaps(other) for other in taken):
                break
        else:
            raise RevaError("no free /30 in 10.160.0.0/11 for a test network namespace")
        host_ip, ns_ip = (str(h) for h in net.hosts())
        ns = cls(f"cs3f-{tag}", f"cf{tag}h", f"cf{tag}n", host_ip, ns_ip)
        try:
            _run("ip", "netns", "add", ns.name)
            _run("ip", "link", "add", ns.host_if, "type", "veth", "peer", "name", ns.ns_if, "netns", ns.name)
            _run("ip", "addr", "add", f"{host_ip}/30", "dev", ns.host_if)
            _run("ip", "link", "set", ns.host_if, "up")
            ns.exec("ip", "addr", "add", f"{ns_ip}/30", "dev", ns.ns_if)
            ns.exec("ip", "link", "set", ns.ns_if, "up")
            ns.exec("ip", "link", "set", "lo", "up")
        except BaseException:
            ns.delete()
            raise
        return ns

    def exec(self, *args: str) -> str:
        return _run("ip", "netns", "exec", self.name, *args)

    def delete(self) -> None:
        """Remove the namespace; the veth pair goes with it."""
        subprocess.run(["ip", "netns", "del", self.name], capture_output=True, timeout=30)
        subprocess.run(["ip", "link", "del", self.host_if], capture_output=True, timeout=30)

    # -- faults ----------------------------------------------------------------------------

    def blackhole(self, ports: list[int]) -> None:
        """Drop every packet to and from these TCP ports on the link: no RST, no ICMP, silence."""
        wanted = ", ".join(str(p) for p in ports)
        rules = f"""
table inet cs3faults {{
    chain incoming {{
        type filter hook input priority 0; policy accept;
        iifname "{self.ns_if}" tcp dport {{ {wanted} }} drop
    }}
    chain outgoing {{
        type filter hook output priority 0; policy accept;
        oifname "{self.ns_if}" tcp sport {{ {wanted} }} drop
    }}
}}
"""
        self.heal()
        subprocess.run(
            ["ip", "netns", "exec", self.name, "nft", "-f", "-"],
            input=rules,
            text=True,
            check=True,
            capture_output=True,
            timeout=30,
        )

    def heal(self) -> None:
        """Let packets through again."""
        subprocess.run(
            ["ip", "netns", "exec", self.name, "nft", "delete", "table", "inet", "cs3faults"],
            capture_output=True,
            timeout=30,
        )

    def throttle(self, mbit: int) -> None:
        """Limit both directions of the link to `mbit` Mbit/s.

        Queues stay short (a token bucket holding 50 ms of traffic) and revad's socket send
        buffers small, so revad's writes keep pace with the link: what revad has sent is then
        about what the peer has, and a crash cuts a response off where the peer sees it,
        instead of the kernel delivering megabytes revad had queued before it died.
        """
        spec = ["root", "tbf", "rate", f"{mbit}mbit", "burst", "32kb", "latency", "50ms"]
        _run("tc", "qdisc", "replace", "dev", self.host_if, *spec)
        self.exec("tc", "qdisc", "replace", "dev", self.ns_if, *spec)
        self.exec("sh", "-c", "echo '4096 16384 65536' > /proc/sys/net/ipv4/tcp_wmem")

    def unthrottle(self) -> None:
        subprocess.run(["tc", "qdisc", "del", "dev", self.host_if, "root"], capture_output=True, timeout=30)
        subprocess.run(
            ["ip", "netns", "exec", self.name, "tc", "qdisc", "del", "dev", self.ns_if, "root"],
            capture_output=True,
            timeout=30,
        )

    def bytes_delivered_from(self, port: int) -> int:
        """Bytes the host has acknowledged so far on revad's open connections from `port`
        (kernel counters): what the clients outside have received. revad's calls to itself
        (the gateway asking its own storage provider) stay inside and are not counted."""
        out = self.exec("ss", "-tinH", "state", "established", f"( sport = :{port} and dst {self.host_ip} )")
        total = 0
        for word in out.split():
            if word.startswith("bytes_acked:"):
                total += int(word.split(":", 1)[1])
        return total


@dataclass
class IsolatedRevad(Revad):
    """A real revad in its own network namespace; see the module docstring."""

    netns: NetworkNamespace | None = field(default=None, init=False)
    crashes: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        self.netns = NetworkNamespace.create()

    @property
    def ip(self) -> str:
        assert self.netns is not None
        return self.netns.ns_ip

    @property
    def gateway(self) -> str:
        return f"{self.ip}:{self.grpc_port}"

    @property
    def http_url(self) -> str:
        return f"http://{self.ip}:{self.http_port}"

    @property
    def uploads_dir(self) -> Path:
        """Where the localhome driver keeps uploads in progress, before they become the file."""
        return self.storage_root / ".uploads"

    def render(self) -> Path:
        # Rendered once: a restart must keep the signing secrets, as a restarted service does.
        if self.config_path.exists():
            return self.config_path
        path = super().render()
        path.write_text(
            path.read_text().replace(f"127.0.0.1:{self.http_port}", f"{self.ip}:{self.http_port}")
        )
        return path

    def start(self, timeout: float = 60.0) -> None:
        assert self.netns is not None
        wrapper = self.workdir / "revad-in-netns"
        self.workdir.mkdir(parents=True, exist_ok=True)
        if not wrapper.exists():
            real = self.binary
            if not real.exists():
                raise RevaError(f"revad binary {real} is missing: run `make revad` first")
            wrapper.write_text(f'#!/bin/sh\nexec ip netns exec {self.netns.name} "{real}" "$@"\n')
            wrapper.chmod(0o755)
            self.binary = wrapper
        super().start(timeout)

    def crash(self) -> None:
        """SIGKILL, as an OOM kill or a node failure would: no chance to flush or clean up."""
        if self.running:
            assert self.process is not None
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(10)
            self.crashes += 1

    def restart(self, timeout: float = 60.0) -> float:
        """Start again on the same ports, storage and secrets; seconds until it answered."""
        started = time.monotonic()
        self.start(timeout)
        return time.monotonic() - started

    def freeze(self) -> None:
        """SIGSTOP: the process is alive and its sockets accept bytes, but nothing answers."""
        assert self.process is not None
        self.process.send_signal(signal.SIGSTOP)

    def thaw(self) -> None:
        assert self.process is not None
        self.process.send_signal(signal.SIGCONT)

    def stop(self, timeout: float | None = None) -> None:
        if self.running:
            self.thaw()
        super().stop(timeout)

    def destroy(self) -> None:
        """Stop revad and remove its network namespace."""
        try:
            self.stop()
        finally:
            if self.netns is not None:
                self.netns.delete()

    def upload_files(self) -> set[str]:
        """Names of the upload data files revad holds (unfinished uploads, or debris of
        uploads a crash interrupted: the localhome driver never removes those)."""
        with contextlib.suppress(FileNotFoundError):
            return {e.name for e in os.scandir(self.uploads_dir) if not e.name.endswith(".info")}
        return set()

    def received_bytes(self, ignore: set[str]) -> int | None:
        """Bytes revad has written so far for an upload begun after `ignore` was taken (the
        largest such upload); None while no such upload has started."""
        best: int | None = None
        with contextlib.suppress(FileNotFoundError):
            for entry in os.scandir(self.uploads_dir):
                if entry.name.endswith(".info") or entry.name in ignore:
                    continue
                with contextlib.suppress(FileNotFoundError):
                    best = max(best or 0, entry.stat().st_size)
        return best
