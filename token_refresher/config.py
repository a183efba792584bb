"""Settings of the refresher: environment variables, overridden by command-line flags.

Everything a setting can get wrong is found here, before the first request to the hub: a
misconfigured sidecar then stops at once with exit status 2 and one line naming the setting,
instead of retrying forever against a hub it can never use or a folder it can never write.
"""

from __future__ import annotations

import argparse
import ipaddress
import math
import os
import ssl
import string
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

PROG = "cs3-token-refresher"
EXIT_CONFIG = 2

DEFAULT_FORMAT = "{token}"
DEFAULT_MODE = 0o600
DEFAULT_MARGIN = 60.0
DEFAULT_JITTER_SHARE = 0.1
DEFAULT_HEALTH_HOST = "127.0.0.1"
DEFAULT_TIMEOUT = 10.0
DEFAULT_BACKOFF_INITIAL = 1.0
DEFAULT_BACKOFF_MAX = 60.0
LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR")


class ConfigError(Exception):
    """A setting that cannot work; the message names the setting and never holds a secret."""

    def __init__(self, setting: str, problem: str) -> None:
        super().__init__(f"{setting}: {problem}")
        self.setting = setting
        self.problem = problem


@dataclass(frozen=True)
class Setting:
    """One setting: its flag, its environment variable and its help line."""

    dest: str
    flag: str
    env: str | None
    help: str
    metavar: str | None = None

    @property
    def label(self) -> str:
        """How messages name the setting: both spellings, as either may be the one in use."""
        return f"{self.flag} / {self.env}" if self.env else self.flag


SETTINGS: tuple[Setting, ...] = (
    Setting(
        "api_url",
        "--api-url",
        "JUPYTERHUB_API_URL",
        "The hub's API URL (required), e.g. http://hub:8081/hub/api.",
        "URL",
    ),
    Setting(
        "user",
        "--user",
        "JUPYTERHUB_USER",
        "The user whose token this is (required); used in messages.",
        "NAME",
    ),
    Setting(
        "api_token_file",
        "--api-token-file",
        "JUPYTERHUB_API_TOKEN_FILE",
        "File holding the server's hub API token, re-read before every request so a rotated "
        "Kubernetes secret is picked up. Alternative to JUPYTERHUB_API_TOKEN (which has no flag, "
        "so the token never shows in the process list); set one of the two.",
        "PATH",
    ),
    Setting(
        "token_path",
        "--token-path",
        "CS3_TOKEN_PATH",
        "File the access token is written to (required).",
        "PATH",
    ),
    Setting(
        "token_format",
        "--format",
        "CS3_TOKEN_FORMAT",
        "What the file holds; {token} is replaced by the access token and is the only field "
        "allowed ({{ and }} are literal braces). Default: {token}. "
        "Example: oauth2:{token}:https://auth.example.org",
        "TEMPLATE",
    ),
    Setting(
        "mode",
        "--mode",
        "CS3_TOKEN_MODE",
        "Octal permissions of the token file. Default: 0600. Must grant nothing to 'other' and "
        "must let the owner or the group read.",
        "OCTAL",
    ),
    Setting(
        "margin",
        "--margin",
        "CS3_TOKEN_REFRESH_MARGIN",
        "Seconds before expiry at which a new token is fetched. Default: 60.",
        "SECONDS",
    ),
    Setting(
        "jitter",
        "--jitter",
        "CS3_TOKEN_REFRESH_JITTER",
        "Up to this many random seconds are taken off each scheduled fetch, so servers started "
        "together do not ask the hub together. Default: 10%% of the margin.",
        "SECONDS",
    ),
    Setting(
        "ready_file",
        "--ready-file",
        "CS3_TOKEN_READY_FILE",
        "File created once the first token is written (removed at start if left over), for a "
        "startup probe such as `test -f`.",
        "PATH",
    ),
    Setting(
        "health_port",
        "--health-port",
        "CS3_TOKEN_HEALTH_PORT",
        "Serve GET /ready (200 once a token is written, 503 before) and GET /health (200 while "
        "the refresh loop runs) on this port. Default: no server. Not started with --once.",
        "PORT",
    ),
    Setting(
        "health_host",
        "--health-host",
        "CS3_TOKEN_HEALTH_HOST",
        "Address the health server listens on. Default: 127.0.0.1; use 0.0.0.0 for kubelet "
        "httpGet probes, which connect to the pod's IP.",
        "ADDRESS",
    ),
    Setting(
        "timeout",
        "--timeout",
        "CS3_TOKEN_HTTP_TIMEOUT",
        "Seconds to wait for the hub's answer. Default: 10.",
        "SECONDS",
    ),
    Setting(
        "backoff_initial",
        "--backoff-initial",
        "CS3_TOKEN_BACKOFF_INITIAL",
        "First retry delay after a failed fetch, doubled at each failure. Default: 1.",
        "SECONDS",
    ),
    Setting(
        "backoff_max",
        "--backoff-max",
        "CS3_TOKEN_BACKOFF_MAX",
        "Longest retry delay; also the retry interval while the hub refuses the API token. Default: 60.",
        "SECONDS",
    ),
    Setting(
        "ca_file",
        "--ca-file",
        "CS3_TOKEN_CA_FILE",
        "PEM bundle to verify an https hub with. Default: the system's certificate authorities.",
        "PATH",
    ),
    Setting(
        "log_level",
        "--log-level",
        "CS3_TOKEN_LOG_LEVEL",
        f"One of {', '.join(LOG_LEVELS)}. Default: INFO. No level ever shows a token.",
        "LEVEL",
    ),
)
BY_DEST = {setting.dest: setting for setting in SETTINGS}
API_TOKEN_ENV = "JUPYTERHUB_API_TOKEN"

EPILOG = """\
Environment only: JUPYTERHUB_API_TOKEN, the server's hub API token (or --api-token-file /
JUPYTERHUB_API_TOKEN_FILE; set one of the two). It has no flag on purpose: command lines
are visible to every process on the node.

Each flag overrides its environment variable. The token is fetched from
{JUPYTERHUB_API_URL}/cs3/token with "Authorization: token {JUPYTERHUB_API_TOKEN}" and
fetched again `margin` seconds (minus up to `jitter`) before it expires. Transient
failures (hub down, 5xx, timeouts) are retried with exponential backoff, never waiting past
the token's expiry and at most 10 s once it has lapsed, and the last good token stays in
place; a refused API token (401/403) is retried every --backoff-max seconds.

Exit status: 0 after SIGTERM/SIGINT or a successful --once; 1 when --once could not get a
token; 2 for a configuration error (reported before any request to the hub).
"""


@dataclass(frozen=True)
class Config:
    """The checked settings of one run."""

    api_url: str
    user: str
    api_token: str = field(repr=False)
    api_token_file: Path | None
    token_path: Path
    token_format: str
    mode: int
    margin: float
    jitter: float
    ready_file: Path | None
    health_port: int | None
    health_host: str
    once: bool
    timeout: float
    backoff_initial: float
    backoff_max: float
    ca_file: Path | None
    log_level: str

    @property
    def token_url(self) -> str:
        """The hub endpoint that hands out the user's access token."""
        return self.api_url.rstrip("/") + "/cs3/token"


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog=PROG,
        description="Keep a JupyterHub user's OAuth access token fresh in a file, for CS3 storage access.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
        allow_abbrev=False,
    )
    for setting in SETTINGS:
        help_text = setting.help + (f" [env: {setting.env}]" if setting.env else "")
        parser.add_argument(setting.flag, dest=setting.dest, metavar=setting.metavar, help=help_text)
    parser.add_argument(
        "--once",
        action="store_true",
        help="Fetch and write one token, then exit (0 on success, 1 on failure). For an init step.",
    )
    return parser


def load_config(argv: Sequence[str] | None, environ: Mapping[str, str]) -> Config:
    """Parse and check every setting; raise ConfigError for the first one that cannot work."""
    args = build_parser().parse_args(argv)

    def raw(dest: str) -> str | None:
        value = getattr(args, dest)
        if value is None:
            env = BY_DEST[dest].env
            # Templated manifests often set variables to "": that means "not set".
            value = (environ.get(env) or None) if env else None
        return value

    def required(dest: str) -> str:
        value = raw(dest)
        if value is None or not value.strip():
            raise ConfigError(BY_DEST[dest].label, "is required")
        return value.strip()

    api_url = check_url(required("api_url"))
    user = required("user")
    api_token, api_token_file = resolve_api_token(args.api_token_file, environ)
    token_path = check_target(BY_DEST["token_path"].label, required("token_path"))
    token_format = check_format(raw("token_format") or DEFAULT_FORMAT)
    mode = parse_mode(raw("mode"))
    margin = parse_seconds("margin", raw("margin"), DEFAULT_MARGIN, positive=True)
    jitter = parse_seconds("jitter", raw("jitter"), margin * DEFAULT_JITTER_SHARE, positive=False)

    ready_file = None
    if (ready_raw := raw("ready_file")) is not None:
        ready_file = check_target(BY_DEST["ready_file"].label, ready_raw)
        if ready_file == token_path:
            raise ConfigError(BY_DEST["ready_file"].label, "must not be the token file itself")

    health_port = None
    if (port_raw := raw("health_port")) is not None:
        health_port = parse_port(port_raw)
    health_host = check_host(raw("health_host") or DEFAULT_HEALTH_HOST)

    timeout = parse_seconds("timeout", raw("timeout"), DEFAULT_TIMEOUT, positive=True)
    backoff_max = parse_seconds("backoff_max", raw("backoff_max"), DEFAULT_BACKOFF_MAX, positive=True)
    # The default first delay gives way to a shorter cap; an explicit one that exceeds it is a mistake.
    backoff_initial = parse_seconds(
        "backoff_initial", raw("backoff_initial"), min(DEFAULT_BACKOFF_INITIAL, backoff_max), positive=True
    )
    if backoff_max < backoff_initial:
        raise ConfigError(
            BY_DEST["backoff_max"].label, f"must be at least --backoff-initial ({backoff_initial:g})"
        )

    ca_file = None
    if (ca_raw := raw("ca_file")) is not None:
        ca_file = check_ca_file(ca_raw)

    log_level = (raw("log_level") or "INFO").strip().upper()
    if log_level not in LOG_LEVELS:
        raise ConfigError(BY_DEST["log_level"].label, f"must be one of {', '.join(LOG_LEVELS)}")

    return Config(
        api_url=api_url,
        user=user,
        api_token=api_token,
        api_token_file=api_token_file,
        token_path=token_path,
        token_format=token_format,
        mode=mode,
        margin=margin,
        jitter=jitter,
        ready_file=ready_file,
        health_port=health_port,
        health_host=health_host,
        once=args.once,
        timeout=timeout,
        backoff_initial=backoff_initial,
        backoff_max=backoff_max,
        ca_file=ca_file,
        log_level=log_level,
    )


def check_url(value: str) -> str:
    label = BY_DEST["api_url"].label
    try:
        parts = urlsplit(value)
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as err:
        raise ConfigError(label, f"is not a valid URL ({err})") from None
    if parts.scheme not in ("http", "https"):
        raise ConfigError(label, f"must be an http:// or https:// URL, not {parts.scheme or 'a bare path'!r}")
    if not parts.hostname:
        raise ConfigError(label, "has no host name")
    if parts.query or parts.fragment:
        raise ConfigError(label, "must not have a query or a fragment")
    return value


def resolve_api_token(flag_file: str | None, environ: Mapping[str, str]) -> tuple[str, Path | None]:
    """The hub API token: --api-token-file, else exactly one of the two environment variables.

    There is deliberately no flag that takes the token itself: command lines are visible to
    every process on the node.
    """
    file_setting = BY_DEST["api_token_file"]
    env_token = environ.get(API_TOKEN_ENV) or None
    env_file = environ.get(file_setting.env or "") or None
    if flag_file is not None:
        path = Path(flag_file)
    elif env_file is not None and env_token is not None:
        raise ConfigError(f"{API_TOKEN_ENV} / {file_setting.env}", "set only one of the two")
    elif env_file is not None:
        path = Path(env_file)
    elif env_token is not None:
        return check_api_token(API_TOKEN_ENV, env_token.strip()), None
    else:
        raise ConfigError(f"{API_TOKEN_ENV} (or {file_setting.label})", "is required")
    return read_api_token_file(path), path.absolute()


def read_api_token_file(path: Path) -> str:
    """Read the API token from a file such as a mounted Kubernetes secret (trailing newline dropped)."""
    label = BY_DEST["api_token_file"].label
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as err:
        reason = err.strerror if isinstance(err, OSError) and err.strerror else type(err).__name__
        raise ConfigError(label, f"cannot read {path}: {reason}") from None
    return check_api_token(label, text.strip(), f" in {path}")


def check_api_token(label: str, token: str, where: str = "") -> str:
    if not token:
        raise ConfigError(label, f"the API token{where} is empty")
    # It goes into an HTTP header: no whitespace or control characters (never shown).
    if any(c.isspace() or not c.isprintable() or not c.isascii() for c in token):
        raise ConfigError(label, f"the API token{where} has whitespace or characters not allowed in a header")
    return token


def check_target(label: str, value: str) -> Path:
    """A file the refresher will create or replace: its folder must exist and be writable."""
    if not value.strip():
        raise ConfigError(label, "is required")
    path = Path(os.path.abspath(value))
    if path.is_dir():
        raise ConfigError(label, f"{path} is a folder, not a file")
    folder = path.parent
    if not folder.is_dir():
        raise ConfigError(label, f"folder {folder} does not exist")
    # The file is replaced by a rename in that folder, so the folder needs write and search rights.
    if not os.access(folder, os.W_OK | os.X_OK):
        raise ConfigError(label, f"folder {folder} is not writable by uid {os.geteuid()}")
    return path


def check_readable_file(label: str, value: str) -> Path:
    path = Path(os.path.abspath(value))
    if not path.is_file():
        raise ConfigError(label, f"{path} is not a file")
    if not os.access(path, os.R_OK):
        raise ConfigError(label, f"{path} is not readable by uid {os.geteuid()}")
    return path


def check_ca_file(value: str) -> Path:
    label = BY_DEST["ca_file"].label
    path = check_readable_file(label, value)
    try:
        ssl.create_default_context(cafile=str(path))
    except (ssl.SSLError, OSError) as err:
        raise ConfigError(label, f"{path} holds no usable PEM certificates ({err})") from None
    return path


def check_format(template: str) -> str:
    """Accept a template whose only field is {token}, present at least once."""
    label = BY_DEST["token_format"].label
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as err:
        raise ConfigError(label, f"{err} (write {{{{ and }}}} for literal braces)") from None
    fields = [(name, spec, conversion) for _, name, spec, conversion in parsed if name is not None]
    for name, spec, conversion in fields:
        if name != "token":
            shown = "{" + name + "}"
            raise ConfigError(label, f"unknown field {shown}: only {{token}} is allowed")
        if spec or conversion:
            raise ConfigError(label, "{token} takes no conversion or format spec")
    if not fields:
        raise ConfigError(label, "must contain {token}")
    return template


def parse_mode(value: str | None) -> int:
    label = BY_DEST["mode"].label
    if value is None:
        return DEFAULT_MODE
    text = value.strip().lower().removeprefix("0o")
    try:
        mode = int(text, 8)
    except ValueError:
        raise ConfigError(label, f"{value!r} is not an octal mode such as 0600") from None
    if mode < 0 or mode > 0o777:
        raise ConfigError(label, f"{value!r} is not a permission mode between 0000 and 0777")
    if mode & 0o007:
        raise ConfigError(label, f"{mode:04o} gives other users access to the token; use e.g. 0600 or 0640")
    if not mode & 0o440:
        raise ConfigError(label, f"{mode:04o} lets neither the owner nor the group read the token")
    return mode


def parse_seconds(dest: str, value: str | None, default: float, *, positive: bool) -> float:
    label = BY_DEST[dest].label
    if value is None:
        return default
    try:
        seconds = float(value)
    except ValueError:
        raise ConfigError(label, f"{value!r} is not a number of seconds") from None
    if not math.isfinite(seconds) or seconds < 0 or (positive and seconds == 0):
        raise ConfigError(label, f"must be a {'positive' if positive else 'non-negative'} number of seconds")
    return seconds


def parse_port(value: str) -> int:
    label = BY_DEST["health_port"].label
    try:
        port = int(value)
    except ValueError:
        raise ConfigError(label, f"{value!r} is not a port number") from None
    if not 1 <= port <= 65535:
        raise ConfigError(label, f"{port} is not a port number between 1 and 65535")
    return port


def check_host(value: str) -> str:
    try:
        return str(ipaddress.ip_address(value.strip()))
    except ValueError:
        raise ConfigError(
            BY_DEST["health_host"].label, f"{value!r} is not an IP address such as 127.0.0.1 or 0.0.0.0"
        ) from None
