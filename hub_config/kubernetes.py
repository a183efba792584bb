"""User servers on Kubernetes: KubeSpawner, with the token refresher as a native sidecar.

Each user pod runs the Jupyter server with the CS3 contents manager and, beside it, the token
refresher as a native sidecar (an init container with `restartPolicy: Always`): the kubelet
starts it first and starts the server only once its startup probe sees the first token
written. Both share an in-memory `emptyDir` at `/var/run/cs3`, mounted as a directory (a
`subPath` mount would never see the refresher's atomic renames) and read-only for the server.

The sidecar gets its own environment, mounts and security context through `modify_pod_hook`:
KubeSpawner's `environment` and `volume_mounts` reach the server container only. The hook
also hands the sidecar the server's hub API token (`spawner.api_token`), which the hub's
`/hub/api/cs3/token` endpoint accepts for that user only.

Everything comes from the values tree the chart mounts into the hub (`cs3`, `limits`,
`singleuser`, `tokenRefresher`, and `spawner`, which the chart fills in).
"""

from __future__ import annotations

import re
from decimal import Decimal, InvalidOperation
from typing import Any

from slugify import slugify

from hub_config.spawner import TOKEN_FILE, server_args
from hub_config.values import SettingsError, get_value

TOKEN_DIR = "/var/run/cs3"
TOKEN_PATH = f"{TOKEN_DIR}/{TOKEN_FILE}"
READY_FILE = f"{TOKEN_DIR}/ready"
CA_DIR = "/etc/cs3/ca"
TOKEN_VOLUME = "cs3-token"
SIDECAR = "token-refresher"

_QUANTITY = re.compile(r"^([+-]?(?:\d+(?:\.\d*)?|\.\d+)(?:[eE][+-]?\d+)?)([KMGTPE]i|[mkMGTPE])?$")
_FACTORS = {
    None: Decimal(1),
    "m": Decimal("0.001"),
    **{suffix: Decimal(1000) ** (i + 1) for i, suffix in enumerate("kMGTPE")},
    **{f"{suffix}i": Decimal(1024) ** (i + 1) for i, suffix in enumerate("KMGTPE")},
}


def quantity(value: str | float, setting: str) -> Decimal:
    """A Kubernetes quantity ("500m", "2Gi", "1.5") as a number."""
    match = _QUANTITY.match(str(value).strip())
    if not match:
        raise SettingsError(f"hub setting {setting!r}: {value!r} is not a Kubernetes quantity")
    try:
        return Decimal(match.group(1)) * _FACTORS[match.group(2)]
    except InvalidOperation as err:
        raise SettingsError(f"hub setting {setting!r}: {value!r} is not a Kubernetes quantity") from err


def security_context(uid: int, gid: int, read_only_root: bool = True) -> dict[str, Any]:
    """Container security context of every container of a user pod."""
    return {
        "runAsUser": uid,
        "runAsGroup": gid,
        "runAsNonRoot": True,
        "allowPrivilegeEscalation": False,
        "readOnlyRootFilesystem": read_only_root,
        "capabilities": {"drop": ["ALL"]},
        "seccompProfile": {"type": "RuntimeDefault"},
    }


def single_user_args(values: dict[str, Any]) -> list[str]:
    """The server's CS3 settings, with the CA bundle where the pod mounts it."""
    cs3 = dict(get_value("cs3", {}, values))
    ca = get_value("cs3.caSecret", {}, values)
    if ca.get("name"):
        cs3["caFile"] = f"{CA_DIR}/{ca.get('key') or 'ca.crt'}"
    return [
        *server_args({**values, "cs3": cs3}, TOKEN_PATH),
        f"--CS3LargeFileManager.spool_limit_mb={spool_limit_mb(values)}",
    ]


def spool_limit_mb(values: dict[str, Any]) -> int:
    """Space the server's chunked uploads in progress may take in /tmp: four fifths of the
    emptyDir, so kernels' temporary files keep the rest and the kubelet never evicts the pod
    (killing its kernels) for a large upload; a chunk beyond it answers 413 instead."""
    size = quantity(tmp_size_limit(values), "singleuser.scratchSizeLimit")
    return max(1, int(size * 4 / 5 / 1024**2))


def tmp_size_limit(values: dict[str, Any]) -> str:
    """/tmp holds chunked uploads until their last chunk (the contents manager's spool):
    room for two of the largest allowed, at least `singleuser.scratchSizeLimit`."""
    scratch = str(get_value("singleuser.scratchSizeLimit", "1Gi", values))
    upload_mb = int(get_value("limits.maxUploadSizeMb", 0, values))
    needed = 2 * upload_mb * 1024**2
    if needed > quantity(scratch, "singleuser.scratchSizeLimit"):
        return f"{2 * upload_mb}Mi"
    return scratch


def _resource_traits(c: Any, resources: dict[str, Any]) -> None:
    """cpu and memory as KubeSpawner's guarantees and limits (they also set CPU_/MEM_ env
    variables in the server); any other resource passes through unchanged."""
    for kind, trait_prefix in (("requests", "guarantee"), ("limits", "limit")):
        extra: dict[str, str] = {}
        for name, value in (resources.get(kind) or {}).items():
            setting = f"singleuser.resources.{kind}.{name}"
            if name == "cpu":
                setattr(c.KubeSpawner, f"cpu_{trait_prefix}", float(quantity(value, setting)))
            elif name == "memory":
                setattr(c.KubeSpawner, f"mem_{trait_prefix}", int(quantity(value, setting)))
            else:
                extra[name] = str(value)
        if extra:
            setattr(c.KubeSpawner, f"extra_resource_{trait_prefix}s", extra)


def configure_kubespawner(c: Any, values: dict[str, Any]) -> None:
    """Configure JupyterHub (`c`) to spawn user servers with KubeSpawner from the values."""
    from kubespawner import KubeSpawner

    if not get_value("cs3.gateway", "", values):
        raise SettingsError("hub setting 'cs3.gateway' is required (the reva gateway, host:port)")
    uid = int(get_value("singleuser.uid", 1000, values))
    gid = int(get_value("singleuser.gid", 1000, values))
    home = get_value("singleuser.homeDir", "/home/jovyan", values)
    scratch_limit = get_value("singleuser.scratchSizeLimit", "1Gi", values)

    c.JupyterHub.spawner_class = KubeSpawner
    # User pods outlive a hub restart (an upgrade, a rescheduled hub): the new hub finds them.
    c.JupyterHub.cleanup_servers = False
    spawner = c.KubeSpawner
    image = get_value("singleuser.image", {}, values)
    if not image.get("repository") or not image.get("tag"):
        raise SettingsError("hub setting 'singleuser.image' needs a repository and a tag")
    spawner.image = f"{image['repository']}:{image['tag']}"
    spawner.image_pull_policy = image.get("pullPolicy", "IfNotPresent")
    pull_secrets = list(get_value("spawner.imagePullSecrets", [], values))
    if pull_secrets:
        spawner.image_pull_secrets = pull_secrets
    # The CS3 settings travel as arguments, which KubeSpawner passes on verbatim: the root
    # path's `{username}` fields reach the contents manager unexpanded (KubeSpawner's own
    # templating applies to environment, labels, volumes and the like, not to arguments).
    spawner.cmd = list(get_value("singleuser.cmd", ["jupyterhub-singleuser"], values))
    # The pod hook below puts these on every pod; here they are KubeSpawner's defaults too.
    guarantees = UserPodGuarantees(values, scratch_limit, home)
    spawner.args = guarantees.args
    # Values are KubeSpawner templates ({username}); literal braces are doubled in the values.
    spawner.environment = {
        # The image's files are read-only: everything a server writes goes under its home.
        "HOME": home,
        **{str(name): str(value) for name, value in get_value("singleuser.extraEnv", {}, values).items()},
    }
    spawner.default_url = get_value("singleuser.defaultUrl", "/lab", values)
    spawner.working_dir = home
    spawner.start_timeout = int(get_value("singleuser.startTimeout", 300, values))
    spawner.http_timeout = 60
    _resource_traits(c, get_value("singleuser.resources", {}, values))
    node_selector = get_value("singleuser.nodeSelector", {}, values)
    if node_selector:
        spawner.node_selector = dict(node_selector)
    tolerations = get_value("singleuser.tolerations", [], values)
    if tolerations:
        spawner.tolerations = list(tolerations)

    # Where and how the pods run.
    namespace = get_value("spawner.namespace", None, values)
    if namespace:
        spawner.namespace = namespace
    spawner.component_label = get_value("spawner.componentLabel", "singleuser-server", values)
    spawner.common_labels = {
        "app.kubernetes.io/managed-by": "kubespawner",
        **get_value("spawner.commonLabels", {}, values),
    }
    # Files live in CS3: no per-user volume claim, and no Kubernetes API access from the pod.
    spawner.storage_pvc_ensure = False
    spawner.automount_service_account_token = False

    # Security: non-root, nothing to escalate to, the image's files read-only; the home and
    # /tmp are scratch emptyDirs.
    spawner.uid = uid
    spawner.gid = gid
    spawner.fs_gid = gid
    spawner.allow_privilege_escalation = False
    spawner.pod_security_context = {
        "runAsNonRoot": True,
        "runAsUser": uid,
        "runAsGroup": gid,
        "fsGroup": gid,
        "seccompProfile": {"type": "RuntimeDefault"},
    }
    spawner.container_security_context = security_context(uid, gid)
    # The site's own volumes (CSI mounts of EOS or CVMFS, ConfigMaps) and pod additions, as
    # KubeSpawner knows them (templates: `{username}` expands, literal braces are doubled). A
    # profile's list of volumes replaces these; the scratch and token volumes stay either way
    # (the hook adds them).
    singleuser = get_value("singleuser", {}, values)
    spawner.volumes = list(singleuser.get("extraVolumes") or [])
    spawner.volume_mounts = list(singleuser.get("extraVolumeMounts") or [])
    spawner.extra_containers = list(singleuser.get("extraContainers") or [])
    spawner.init_containers = list(singleuser.get("initContainers") or [])
    spawner.lifecycle_hooks = dict(singleuser.get("lifecycleHooks") or {})
    spawner.extra_labels = dict(singleuser.get("extraLabels") or {})
    spawner.extra_annotations = dict(singleuser.get("extraAnnotations") or {})
    spawner.extra_pod_config = dict(singleuser.get("extraPodConfig") or {})
    profiles = profile_list(singleuser.get("profileList") or [])
    if profiles:
        spawner.profile_list = profiles
    spawner.pre_spawn_hook = ForgetRemovedChoices(profiles)
    spawner.modify_pod_hook = guarantees


# Overrides a profile may not make: they would take the CS3 wiring off the pod.
RESERVED_OVERRIDES = frozenset({"modify_pod_hook", "profile_list", "pre_spawn_hook", "options_form"})
# KubeSpawner reads these as byte counts with its own suffixes (K, M, G, T, powers of 1024).
BYTE_OVERRIDES = ("mem_limit", "mem_guarantee")


def profile_list(profiles: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """KubeSpawner's profile_list from `singleuser.profileList`, each override checked.

    Memory in an override may also be a Kubernetes quantity ("4Gi"), the unit the rest of the
    values use; it becomes bytes for KubeSpawner, whose own "4G" means the same 4 GiB."""
    result = []
    for index, profile in enumerate(profiles):
        where = f"singleuser.profileList[{index}]"
        if not profile.get("display_name"):
            raise SettingsError(f"hub setting {where!r} needs a display_name")
        profile = dict(profile)
        # KubeSpawner's own default slug, needed here to recognise remembered choices.
        profile.setdefault("slug", slugify(profile["display_name"]))
        profile["kubespawner_override"] = _override(profile.get("kubespawner_override") or {}, where)
        options = {}
        for name, option in (profile.get("profile_options") or {}).items():
            option = dict(option)
            choices = {}
            for slug, choice in (option.get("choices") or {}).items():
                choice = dict(choice)
                choice["kubespawner_override"] = _override(
                    choice.get("kubespawner_override") or {}, f"{where}.profile_options.{name}.choices.{slug}"
                )
                choices[slug] = choice
            if choices:
                option["choices"] = choices
            options[name] = option
        if options:
            profile["profile_options"] = options
        result.append(profile)
    return result


class ForgetRemovedChoices:
    """KubeSpawner's `pre_spawn_hook`: a server started again without a form (the hub's home
    page, a link to /user/<name>/) gets the options of its last start, and KubeSpawner refuses
    to start one whose profile or choice the site has since removed, for as long as it stays
    removed. Such a choice is dropped here, so the default applies, and the log says so."""

    def __init__(self, profiles: list[dict[str, Any]]) -> None:
        self.profiles = {profile["slug"]: profile for profile in profiles}

    def __call__(self, spawner: Any) -> None:
        options = dict(spawner.user_options or {})
        chosen = options.get("profile")
        if not chosen:
            return
        profile = self.profiles.get(chosen)
        if profile is None:
            spawner.log.warning(
                "Profile %r no longer exists: %s starts with the default", chosen, spawner._log_name
            )
            spawner.user_options = {}
            return
        for name, option in (profile.get("profile_options") or {}).items():
            choice = options.get(name)
            if choice and choice not in (option.get("choices") or {}):
                spawner.log.warning(
                    "Choice %r of %r no longer exists: %s starts with the default",
                    choice,
                    name,
                    spawner._log_name,
                )
                del options[name]
        spawner.user_options = options


def _override(override: dict[str, Any], where: str) -> dict[str, Any]:
    reserved = sorted(RESERVED_OVERRIDES & set(override))
    if reserved:
        raise SettingsError(f"hub setting {where!r}: kubespawner_override may not set {', '.join(reserved)}")
    override = dict(override)
    for key in BYTE_OVERRIDES:
        value = override.get(key)
        if isinstance(value, str) and value.endswith("i"):
            override[key] = int(quantity(value, f"{where}.kubespawner_override.{key}"))
    return override


class UserPodGuarantees:
    """KubeSpawner's `modify_pod_hook`: what every user pod has, whichever profile built it.

    A profile's overrides replace lists wholesale (volumes, mounts, args), so what the CS3
    wiring needs is put on the finished pod here rather than in the spawner's traits: the
    scratch home and /tmp, the token volume, the CS3 arguments of the server, the CA bundle,
    and the token refresher sidecar."""

    def __init__(self, values: dict[str, Any], scratch_limit: str, home: str) -> None:
        self.scratch = {"home": (home, scratch_limit), "tmp": ("/tmp", tmp_size_limit(values))}
        self.args = single_user_args(values)
        image = get_value("tokenRefresher.image", {}, values)
        if not image.get("repository") or not image.get("tag"):
            raise SettingsError("hub setting 'tokenRefresher.image' needs a repository and a tag")
        self.image = f"{image['repository']}:{image['tag']}"
        self.pull_policy = image.get("pullPolicy", "IfNotPresent")
        self.command = list(get_value("tokenRefresher.command", ["cs3-token-refresher"], values))
        self.margin = int(get_value("tokenRefresher.margin", 60, values))
        self.startup_timeout = int(get_value("tokenRefresher.startupTimeoutSeconds", 60, values))
        self.health_port = int(get_value("tokenRefresher.healthPort", 8099, values))
        self.log_level = str(get_value("tokenRefresher.logLevel", "INFO", values))
        self.resources = dict(get_value("tokenRefresher.resources", {}, values))
        self.uid = int(get_value("singleuser.uid", 1000, values))
        self.gid = int(get_value("singleuser.gid", 1000, values))
        ca = get_value("cs3.caSecret", {}, values)
        self.ca_secret = ca.get("name") or ""

    def __call__(self, spawner: Any, pod: Any) -> Any:
        from kubernetes_asyncio.client.models import (
            V1Container,
            V1ContainerPort,
            V1EmptyDirVolumeSource,
            V1EnvVar,
            V1HTTPGetAction,
            V1Probe,
            V1ResourceRequirements,
            V1SecretVolumeSource,
            V1Volume,
            V1VolumeMount,
        )

        spec = pod.spec
        own = {TOKEN_VOLUME, "cs3-ca", *self.scratch}
        volumes = [v for v in spec.volumes or [] if v.name not in own]
        volumes.extend(
            V1Volume(name=name, empty_dir=V1EmptyDirVolumeSource(size_limit=limit))
            for name, (_, limit) in self.scratch.items()
        )
        volumes.append(
            V1Volume(
                name=TOKEN_VOLUME,
                # In memory: the token never touches the node's disk.
                empty_dir=V1EmptyDirVolumeSource(medium="Memory", size_limit="1Mi"),
            )
        )
        if self.ca_secret:
            volumes.append(
                V1Volume(
                    name="cs3-ca", secret=V1SecretVolumeSource(secret_name=self.ca_secret, default_mode=0o444)
                )
            )
        spec.volumes = volumes

        notebook = next(c for c in spec.containers if c.name == "notebook")
        mounts = [m for m in notebook.volume_mounts or [] if m.name not in own]
        mounts.extend(V1VolumeMount(name=name, mount_path=path) for name, (path, _) in self.scratch.items())
        mounts.append(V1VolumeMount(name=TOKEN_VOLUME, mount_path=TOKEN_DIR, read_only=True))
        if self.ca_secret:
            mounts.append(V1VolumeMount(name="cs3-ca", mount_path=CA_DIR, read_only=True))
        notebook.volume_mounts = mounts
        # The CS3 settings win over a profile's own arguments of the same name.
        names = {arg.split("=", 1)[0] for arg in self.args}
        notebook.args = [a for a in notebook.args or [] if a.split("=", 1)[0] not in names] + self.args

        ready = V1HTTPGetAction(path="/ready", port="token-health")
        env = {
            "JUPYTERHUB_API_URL": spawner.hub.api_url,
            "JUPYTERHUB_API_TOKEN": spawner.api_token,
            "JUPYTERHUB_USER": spawner.user.name,
            "CS3_TOKEN_PATH": TOKEN_PATH,
            "CS3_TOKEN_READY_FILE": READY_FILE,
            "CS3_TOKEN_REFRESH_MARGIN": str(self.margin),
            "CS3_TOKEN_HEALTH_PORT": str(self.health_port),
            # The kubelet probes the pod's address, not the loopback.
            "CS3_TOKEN_HEALTH_HOST": "0.0.0.0",
            "CS3_TOKEN_LOG_LEVEL": self.log_level,
        }
        sidecar = V1Container(
            name=SIDECAR,
            image=self.image,
            image_pull_policy=self.pull_policy,
            command=self.command,
            # A native sidecar: runs for the pod's whole life, started before the server.
            restart_policy="Always",
            env=[V1EnvVar(name=name, value=value) for name, value in env.items()],
            ports=[V1ContainerPort(name="token-health", container_port=self.health_port)],
            # The server starts only after the first token is written.
            startup_probe=V1Probe(
                http_get=ready, period_seconds=1, timeout_seconds=2, failure_threshold=self.startup_timeout
            ),
            liveness_probe=V1Probe(
                http_get=V1HTTPGetAction(path="/health", port="token-health"),
                period_seconds=20,
                timeout_seconds=5,
                failure_threshold=6,
            ),
            resources=V1ResourceRequirements(
                requests=self.resources.get("requests"), limits=self.resources.get("limits")
            ),
            security_context=security_context(self.uid, self.gid),
            volume_mounts=[V1VolumeMount(name=TOKEN_VOLUME, mount_path=TOKEN_DIR)],
        )
        spec.init_containers = [c for c in spec.init_containers or [] if c.name != SIDECAR] + [sidecar]
        return pod
