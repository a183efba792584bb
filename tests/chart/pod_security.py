"""The Pod Security Standards' "restricted" profile, checked on a pod spec.

A namespace labelled `pod-security.kubernetes.io/enforce: restricted` refuses pods that break
any of these rules, so a site running such namespaces could not start the hub or a user's
server. The rules are the baseline and restricted controls of the Kubernetes documentation
(https://kubernetes.io/docs/concepts/security/pod-security-standards/, policy version
"latest" for Kubernetes 1.29 and later), written out one function each so a failing check
names the control it broke.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

Spec = dict[str, Any]

# Baseline: capabilities a container may add (restricted allows only NET_BIND_SERVICE).
BASELINE_CAPABILITIES = {
    "AUDIT_WRITE",
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "MKNOD",
    "NET_BIND_SERVICE",
    "SETFCAP",
    "SETGID",
    "SETPCAP",
    "SETUID",
    "SYS_CHROOT",
}
RESTRICTED_CAPABILITIES = {"NET_BIND_SERVICE"}
SAFE_SYSCTLS = {
    "kernel.shm_rmid_forced",
    "net.ipv4.ip_local_port_range",
    "net.ipv4.ip_unprivileged_port_start",
    "net.ipv4.tcp_syncookies",
    "net.ipv4.ping_group_range",
    "net.ipv4.ip_local_reserved_ports",
    "net.ipv4.tcp_keepalive_time",
    "net.ipv4.tcp_fin_timeout",
    "net.ipv4.tcp_keepalive_intvl",
    "net.ipv4.tcp_keepalive_probes",
}
RESTRICTED_VOLUME_TYPES = {
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "persistentVolumeClaim",
    "projected",
    "secret",
}
SELINUX_TYPES = {"", "container_t", "container_init_t", "container_kvm_t", "container_engine_t"}
SECCOMP_ALLOWED = {"RuntimeDefault", "Localhost"}
APPARMOR_ALLOWED = {"RuntimeDefault", "Localhost"}


def containers(spec: Spec) -> Iterator[Spec]:
    for key in ("initContainers", "containers", "ephemeralContainers"):
        yield from spec.get(key) or []


def _context(container: Spec) -> Spec:
    return container.get("securityContext") or {}


# -- baseline -------------------------------------------------------------------------------


def host_namespaces(spec: Spec) -> Iterator[str]:
    for field in ("hostNetwork", "hostPID", "hostIPC"):
        if spec.get(field):
            yield f"{field} is true"


def host_process(spec: Spec) -> Iterator[str]:
    contexts = [("pod", spec.get("securityContext") or {})]
    contexts += [(c["name"], _context(c)) for c in containers(spec)]
    for name, context in contexts:
        if (context.get("windowsOptions") or {}).get("hostProcess"):
            yield f"{name}: windowsOptions.hostProcess is true"


def privileged(spec: Spec) -> Iterator[str]:
    for c in containers(spec):
        if _context(c).get("privileged"):
            yield f"{c['name']}: privileged"


def host_path_volumes(spec: Spec) -> Iterator[str]:
    for volume in spec.get("volumes") or []:
        if "hostPath" in volume:
            yield f"volume {volume['name']}: hostPath"


def host_ports(spec: Spec) -> Iterator[str]:
    for c in containers(spec):
        for port in c.get("ports") or []:
            if port.get("hostPort"):
                yield f"{c['name']}: hostPort {port['hostPort']}"


def app_armor(spec: Spec, annotations: dict[str, str]) -> Iterator[str]:
    contexts = [("pod", spec.get("securityContext") or {})]
    contexts += [(c["name"], _context(c)) for c in containers(spec)]
    for name, context in contexts:
        profile = (context.get("appArmorProfile") or {}).get("type")
        if profile is not None and profile not in APPARMOR_ALLOWED:
            yield f"{name}: appArmorProfile {profile}"
    prefix = "container.apparmor.security.beta.kubernetes.io/"
    for key, value in annotations.items():
        if key.startswith(prefix) and value != "runtime/default" and not value.startswith("localhost/"):
            yield f"annotation {key}: {value}"


def se_linux(spec: Spec) -> Iterator[str]:
    contexts = [("pod", spec.get("securityContext") or {})]
    contexts += [(c["name"], _context(c)) for c in containers(spec)]
    for name, context in contexts:
        options = context.get("seLinuxOptions") or {}
        if options.get("type", "") not in SELINUX_TYPES:
            yield f"{name}: seLinuxOptions.type {options['type']}"
        for field in ("user", "role"):
            if options.get(field):
                yield f"{name}: seLinuxOptions.{field} is set"


def proc_mount(spec: Spec) -> Iterator[str]:
    for c in containers(spec):
        mount = _context(c).get("procMount")
        if mount not in (None, "Default"):
            yield f"{c['name']}: procMount {mount}"


def seccomp_not_unconfined(spec: Spec) -> Iterator[str]:
    contexts = [("pod", spec.get("securityContext") or {})]
    contexts += [(c["name"], _context(c)) for c in containers(spec)]
    for name, context in contexts:
        if (context.get("seccompProfile") or {}).get("type") == "Unconfined":
            yield f"{name}: seccompProfile Unconfined"


def sysctls(spec: Spec) -> Iterator[str]:
    for sysctl in (spec.get("securityContext") or {}).get("sysctls") or []:
        if sysctl["name"] not in SAFE_SYSCTLS:
            yield f"sysctl {sysctl['name']}"


def baseline_capabilities(spec: Spec) -> Iterator[str]:
    for c in containers(spec):
        for cap in (_context(c).get("capabilities") or {}).get("add") or []:
            if cap not in BASELINE_CAPABILITIES:
                yield f"{c['name']}: adds capability {cap}"


# -- restricted -----------------------------------------------------------------------------


def volume_types(spec: Spec) -> Iterator[str]:
    for volume in spec.get("volumes") or []:
        kinds = set(volume) - {"name"}
        if not kinds <= RESTRICTED_VOLUME_TYPES:
            yield f"volume {volume['name']}: type {sorted(kinds - RESTRICTED_VOLUME_TYPES)}"


def privilege_escalation(spec: Spec) -> Iterator[str]:
    for c in containers(spec):
        if _context(c).get("allowPrivilegeEscalation") is not False:
            yield f"{c['name']}: allowPrivilegeEscalation is not false"


def run_as_non_root(spec: Spec) -> Iterator[str]:
    pod = (spec.get("securityContext") or {}).get("runAsNonRoot")
    if pod is False:
        yield "pod: runAsNonRoot is false"
    for c in containers(spec):
        value = _context(c).get("runAsNonRoot")
        if value is False or (value is None and pod is not True):
            yield f"{c['name']}: runAsNonRoot is not true"


def run_as_user(spec: Spec) -> Iterator[str]:
    if (spec.get("securityContext") or {}).get("runAsUser") == 0:
        yield "pod: runAsUser 0"
    for c in containers(spec):
        if _context(c).get("runAsUser") == 0:
            yield f"{c['name']}: runAsUser 0"


def seccomp(spec: Spec) -> Iterator[str]:
    pod = ((spec.get("securityContext") or {}).get("seccompProfile") or {}).get("type")
    if pod is not None and pod not in SECCOMP_ALLOWED:
        yield f"pod: seccompProfile {pod}"
    for c in containers(spec):
        value = (_context(c).get("seccompProfile") or {}).get("type")
        if value is not None and value not in SECCOMP_ALLOWED:
            yield f"{c['name']}: seccompProfile {value}"
        elif value is None and pod is None:
            yield f"{c['name']}: no seccompProfile (neither the pod's nor its own)"


def restricted_capabilities(spec: Spec) -> Iterator[str]:
    for c in containers(spec):
        caps = _context(c).get("capabilities") or {}
        if "ALL" not in (caps.get("drop") or []):
            yield f"{c['name']}: does not drop ALL capabilities"
        for cap in caps.get("add") or []:
            if cap not in RESTRICTED_CAPABILITIES:
                yield f"{c['name']}: adds capability {cap}"


CONTROLS: dict[str, Callable[[Spec], Iterator[str]]] = {
    "host namespaces": host_namespaces,
    "host process": host_process,
    "privileged containers": privileged,
    "hostPath volumes": host_path_volumes,
    "host ports": host_ports,
    "SELinux": se_linux,
    "/proc mount type": proc_mount,
    "seccomp (baseline)": seccomp_not_unconfined,
    "sysctls": sysctls,
    "capabilities (baseline)": baseline_capabilities,
    "volume types": volume_types,
    "privilege escalation": privilege_escalation,
    "running as non-root": run_as_non_root,
    "running as non-root user": run_as_user,
    "seccomp (restricted)": seccomp,
    "capabilities (restricted)": restricted_capabilities,
}


def violations(spec: Spec, annotations: dict[str, str] | None = None) -> list[str]:
    """Every broken control of the restricted profile, as `control: detail`; [] when none."""
    found = [f"{name}: {detail}" for name, check in CONTROLS.items() for detail in check(spec)]
    found += [f"AppArmor: {detail}" for detail in app_armor(spec, annotations or {})]
    return found
