#!/usr/bin/env bash
# What `make run` and `make test` need from the machine itself, before they build anything:
#
#   prerequisites.sh run    what the local stack needs (a C compiler for revad, git, make, CAs)
#   prerequisites.sh test   that, plus what the test suite drives (the default)
#
# Missing Debian packages are installed when this user may (root, or sudo without a password);
# otherwise it stops with the one command that installs exactly those. For `test`, a docker
# daemon is started when none answers: these machines have no systemd to start one. Go, Python
# and Node are only checked: they come in versions Debian does not package.
#
# Everything present costs one dpkg-query and a few version checks; apt is not touched then.
set -euo pipefail

repo=$(cd "$(dirname "$0")/../.." && pwd)
subset=${1:-test}
python=${PYTHON:-python3}
# Another apt or dpkg may hold the package locks (a provisioning script, unattended upgrades).
lock_wait=120
dockerd_log=/var/log/dockerd.log
dockerd_wait=60

say() { echo "prerequisites: $*" >&2; }

# Each entry: a Debian package, and a command or file that shows it is installed where there
# is no dpkg to ask.
run_packages=(
    "build-essential cc"                                # revad's local storage drivers use cgo
    "git git"
    "make make"
    "ca-certificates /etc/ssl/certs/ca-certificates.crt" # TLS to the Go proxy, PyPI and npm
)
test_packages=(
    "chromium /usr/bin/chromium" # the browser tests (tests/e2e)
    "docker.io docker"           # the image smoke test (tests/images)
    "debootstrap debootstrap"    # the base images of images/build.sh
    "nftables nft"               # the fault tests cut reva's network with nftables rules
    "iproute2 ip"                # ... inside network namespaces
    "e2fsprogs chattr"           # chattr +i makes files that cannot be changed
    "runc /usr/sbin/runc"        # the test cluster's container runtime (tests/cluster)
    "iptables iptables"          # ... whose kube-proxy and CNI plugins write iptables rules
    "ipset /usr/sbin/ipset"      # ... and whose NetworkPolicy enforcer (kube-router) ipsets
    "postgresql /usr/bin/pg_lsclusters" # the hub on a database server (tests/chart/test_database.py)
    "mariadb-server /usr/sbin/mariadbd" # ... and on MySQL's kind
)
case $subset in
    run) entries=("${run_packages[@]}") ;;
    test) entries=("${run_packages[@]}" "${test_packages[@]}") ;;
    *)
        echo "usage: $0 [run|test]" >&2
        exit 2
        ;;
esac
packages=()
declare -A probe
for entry in "${entries[@]}"; do
    read -r pkg file <<< "$entry"
    packages+=("$pkg")
    probe[$pkg]=$file
done

# --- Which packages are missing ---------------------------------------------------------
missing=()
if command -v dpkg-query > /dev/null; then
    # One query for all: installed packages print "name ii "; unknown ones only complain on stderr.
    installed=$(dpkg-query -W -f='${Package} ${db:Status-Abbrev}\n' "${packages[@]}" 2> /dev/null || true)
    for pkg in "${packages[@]}"; do
        grep -qxF "$pkg ii " <<< "$installed" || missing+=("$pkg")
    done
else
    for pkg in "${packages[@]}"; do
        file=${probe[$pkg]}
        if [[ $file == /* ]]; then [ -e "$file" ] || missing+=("$pkg"); else command -v "$file" > /dev/null || missing+=("$pkg"); fi
    done
fi

# Root itself, or sudo that never asks for a password (make must not stop at a prompt).
as_root=()
can_be_root=true
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo > /dev/null && sudo -n true 2> /dev/null; then
        as_root=(sudo -n)
    else
        can_be_root=false
    fi
fi

# --- What cannot be fixed here: all of it in one report ----------------------------------
problems=()
if ((${#missing[@]})); then
    if ! command -v apt-get > /dev/null; then
        problems+=("missing ${missing[*]} (Debian package names); this machine has no apt-get: install them with its own package manager")
    elif ! $can_be_root; then
        problems+=("missing Debian packages ${missing[*]}; install them with: sudo apt-get update && sudo apt-get install -y ${missing[*]}")
    fi
fi
command -v go > /dev/null || problems+=("go is not installed (Go 1.26 or newer, https://go.dev/dl/): revad is built from Go modules")
if ! command -v "$python" > /dev/null; then
    problems+=("$python is not installed (Python 3.11 or newer)")
elif ! "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    problems+=("$python is $("$python" -c 'import platform; print(platform.python_version())'); Python 3.11 or newer is needed (set PYTHON=... to use another)")
elif [ ! -x "$repo/.venv/bin/python" ] && ! "$python" -c 'import ensurepip, venv' 2> /dev/null; then
    problems+=("$python cannot create a virtualenv (Debian: sudo apt-get install python3-venv)")
fi
if ! command -v node > /dev/null; then
    problems+=("node is not installed (Node 20 or newer, with npm)")
elif ! node -e 'process.exit(Number(process.versions.node.split(".")[0]) < 20 ? 1 : 0)'; then
    problems+=("node is $(node --version); Node 20 or newer is needed")
fi
command -v npm > /dev/null || problems+=("npm is not installed (it comes with Node 20)")
if ((${#problems[@]})); then
    for problem in "${problems[@]}"; do say "$problem"; done
    exit 1
fi

# --- Install what is missing ------------------------------------------------------------
# apt-get, retried while another apt or dpkg holds a lock: DPkg::Lock::Timeout covers dpkg's
# lock during an install, but `apt-get update` gives up on the lists lock at once.
apt() {
    local log deadline=$((SECONDS + lock_wait)) said=false
    log=$(mktemp)
    while true; do
        if "${as_root[@]}" env DEBIAN_FRONTEND=noninteractive NEEDRESTART_SUSPEND=1 \
            apt-get -qq -o DPkg::Lock::Timeout="$lock_wait" "$@" 2>&1 | tee "$log"; then
            rm -f "$log"
            return 0
        fi
        if grep -q -e 'Could not get lock' -e 'Unable to lock' "$log" && ((SECONDS < deadline)); then
            $said || say "apt is busy (another apt or dpkg holds its lock); waiting up to $lock_wait s"
            said=true
            sleep 5
            continue
        fi
        rm -f "$log"
        say "apt-get $* failed"
        return 1
    done
}

if ((${#missing[@]})); then
    say "installing ${missing[*]}"
    apt update
    apt install -y "${missing[@]}"
fi

# --- A docker daemon, for the image smoke test ------------------------------------------
no_docker_access() {
    say "the docker daemon does not let $(id -un) in; run: sudo usermod -aG docker $(id -un), then log in again"
    exit 1
}
if [ "$subset" = test ] && ! docker_error=$(docker info 2>&1 > /dev/null); then
    # The tests run docker as this user: a daemon that answers only root is no use to them.
    grep -q 'permission denied' <<< "$docker_error" && no_docker_access
    if ! $can_be_root; then
        say "no docker daemon answers, and starting one needs root: sudo sh -c 'setsid dockerd > $dockerd_log 2>&1 < /dev/null &'"
        exit 1
    fi
    say "starting dockerd (log: $dockerd_log)"
    # Its own session: a Ctrl-C in make's terminal must not stop the daemon, and no output
    # pipe of make's stays open behind it.
    "${as_root[@]}" sh -c "setsid nohup dockerd > '$dockerd_log' 2>&1 < /dev/null &"
    for _ in $(seq "$dockerd_wait"); do
        "${as_root[@]}" docker info > /dev/null 2>&1 && break
        sleep 1
    done
    if ! "${as_root[@]}" docker info > /dev/null 2>&1; then
        say "dockerd did not answer within $dockerd_wait s; the end of $dockerd_log:"
        tail -n 20 "$dockerd_log" >&2 || true
        exit 1
    fi
    docker info > /dev/null 2>&1 || no_docker_access
fi
