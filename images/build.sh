#!/usr/bin/env bash
# Build the images from the repository root (images/README.md explains the choices).
#
#   images/build.sh                 base images + hub, singleuser, token-refresher, proxy
#   images/build.sh hub proxy       only these (their base image is made when missing)
#   images/build.sh test-reva       the smoke test's reva (needs `make revad`)
#
# Base images: by default made locally with debootstrap (Debian bookworm minbase with python3,
# trixie minbase with nodejs) and `docker import`, once: their tag is a hash of the recipe
# below, so an existing one is reused. BASE_IMAGES=public builds on the Dockerfiles' defaults
# (python:3.11-slim-bookworm, node:20-bookworm-slim) instead, which needs a container registry.
#
# Environment: IMAGE_PREFIX (cs3-jupyterhub), IMAGE_TAG (dev), BASE_IMAGES (debootstrap|public),
# BUILD_NETWORK (e.g. host, when the default bridge cannot reach the registries),
# DEBIAN_MIRROR, CA_BUNDLE (a CA bundle handed to pip/npm as a build secret, default the
# system's), DOCKER (the docker client), REVAD_BINARY (for test-reva).
# Every step prints `images-timing <step> <seconds>`.
set -euo pipefail
cd "$(dirname "$0")/.."

PREFIX=${IMAGE_PREFIX:-cs3-jupyterhub}
TAG=${IMAGE_TAG:-dev}
BASE_IMAGES=${BASE_IMAGES:-debootstrap}
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
CACHE_DIR=${DEBOOTSTRAP_CACHE:-$PWD/build/debootstrap-cache}

PYTHON_SUITE=bookworm
PYTHON_PACKAGES=ca-certificates,python3,python3-venv
# configurable-http-proxy 5 needs Node 20; bookworm has 18, trixie 20.
NODE_SUITE=trixie
NODE_PACKAGES=ca-certificates,nodejs

log() { echo "images: $*" >&2; }
die() { log "$*"; exit 1; }

# A docker client that builds with BuildKit (build secrets): one with the buildx plugin, or
# Debian's docker.io (20.10), whose client has BuildKit built in. Newer clients without buildx
# only offer the legacy builder.
pick_docker() {
    if [ -n "${DOCKER:-}" ]; then
        echo "$DOCKER"
        return
    fi
    local client major
    for client in $(type -ap docker); do
        if "$client" buildx version > /dev/null 2>&1; then
            echo "$client"
            return
        fi
        major=$("$client" --version 2> /dev/null | sed -n 's/^Docker version \([0-9]*\)\..*/\1/p')
        if [ -n "$major" ] && [ "$major" -lt 23 ]; then
            echo "$client"
            return
        fi
    done
    die "no docker client that builds with BuildKit (docker with buildx, or Debian's docker.io)"
}

DOCKER_CLI=$(pick_docker)
"$DOCKER_CLI" info > /dev/null 2>&1 || die "cannot reach the docker daemon ($DOCKER_CLI info failed); is dockerd running?"
export DOCKER_BUILDKIT=1

as_root() {
    if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

# The recipe of one base image; its text is hashed into the image tag.
make_base() {
    local suite=$1 packages=$2 tag=$3 root
    command -v debootstrap > /dev/null || die "debootstrap is missing (apt-get install debootstrap)"
    root=$(mktemp -d /var/tmp/cs3-jupyterhub-rootfs.XXXXXX)
    # shellcheck disable=SC2064
    trap "as_root rm -rf '$root'" EXIT
    mkdir -p "$CACHE_DIR"
    as_root debootstrap --variant=minbase --include="$packages" --cache-dir="$CACHE_DIR" \
        "$suite" "$root" "$MIRROR" > "$root.log" 2>&1 || {
        tail -20 "$root.log" >&2
        die "debootstrap $suite failed (log: $root.log)"
    }
    rm -f "$root.log"
    # Keep later package installs lean too, and drop what a container never reads.
    as_root sh -c "
        printf '%s\n' 'path-exclude /usr/share/doc/*' 'path-exclude /usr/share/man/*' \
            'path-exclude /usr/share/info/*' 'path-exclude /usr/share/locale/*' \
            'path-include /usr/share/locale/locale.alias' > '$root/etc/dpkg/dpkg.cfg.d/01-container'
        rm -rf '$root'/var/lib/apt/lists/* '$root'/var/cache/apt/*.bin '$root'/var/cache/apt/archives/*.deb \
            '$root'/var/log/* '$root'/usr/share/doc/* '$root'/usr/share/man/* '$root'/usr/share/info/* \
            '$root'/etc/resolv.conf '$root'/etc/hostname
        find '$root/usr/share/locale' -mindepth 1 -maxdepth 1 ! -name locale.alias -exec rm -rf {} +
        : > '$root/etc/machine-id'
    "
    as_root tar --numeric-owner -C "$root" --exclude='./dev/*' --exclude='./proc/*' --exclude='./sys/*' \
        -c . | "$DOCKER_CLI" import \
        --change 'ENV LANG=C.UTF-8' \
        --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
        --change 'CMD ["bash"]' \
        --message "debootstrap --variant=minbase --include=$packages $suite" - "$tag" > /dev/null
    as_root rm -rf "$root"
    trap - EXIT
}

base_tag() {
    local kind=$1 suite=$2 packages=$3 hash
    hash=$( (declare -f make_base; echo "$suite $packages") | sha256sum | cut -c1-12)
    echo "$PREFIX-base-$kind:$suite-$hash"
}

PYTHON_BASE=$(base_tag python "$PYTHON_SUITE" "$PYTHON_PACKAGES")
NODE_BASE=$(base_tag node "$NODE_SUITE" "$NODE_PACKAGES")

ensure_base() {
    local kind=$1 suite=$2 packages=$3 tag=$4 started
    [ "$BASE_IMAGES" = debootstrap ] || return 0
    mkdir -p build
    # One maker at a time (two test runs may start together); the second finds the image.
    exec 9> build/.images-base.lock
    flock 9
    if "$DOCKER_CLI" image inspect "$tag" > /dev/null 2>&1; then
        log "base $tag exists"
    else
        started=$(date +%s)
        log "making base $tag with debootstrap ($suite: $packages)"
        make_base "$suite" "$packages" "$tag"
        echo "images-timing base-$kind $(($(date +%s) - started))"
    fi
    flock -u 9
}

build() {
    local name=$1 dockerfile=$2 base=$3 started args
    shift 3
    started=$(date +%s)
    args=(build --progress plain -f "$dockerfile" -t "$PREFIX-$name:$TAG")
    [ -z "${BUILD_NETWORK:-}" ] || args+=(--network "$BUILD_NETWORK")
    [ "$BASE_IMAGES" = public ] || args+=(--build-arg "BASE_IMAGE=$base")
    [ -s "$CA_BUNDLE" ] && args+=(--secret "id=ca,src=$CA_BUNDLE")
    log "building $PREFIX-$name:$TAG"
    "$DOCKER_CLI" "${args[@]}" "$@" .
    echo "images-timing $name $(($(date +%s) - started))"
}

revad_binary() {
    local version
    version=$(sed -n 's|^[[:space:]]*\(require \)\{0,1\}github.com/cs3org/reva/v3 \(v[^ ]*\).*|\2|p' tests/reva/go.mod)
    echo "${REVAD_BINARY:-build/revad-$version}"
}

targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(base hub singleuser token-refresher proxy)
for target in "${targets[@]}"; do
    case "$target" in
        base)
            ensure_base python "$PYTHON_SUITE" "$PYTHON_PACKAGES" "$PYTHON_BASE"
            ensure_base node "$NODE_SUITE" "$NODE_PACKAGES" "$NODE_BASE"
            ;;
        hub | singleuser | token-refresher)
            ensure_base python "$PYTHON_SUITE" "$PYTHON_PACKAGES" "$PYTHON_BASE"
            build "$target" "images/$target/Dockerfile" "$PYTHON_BASE"
            ;;
        proxy)
            ensure_base node "$NODE_SUITE" "$NODE_PACKAGES" "$NODE_BASE"
            build proxy images/proxy/Dockerfile "$NODE_BASE"
            ;;
        test-reva)
            binary=$(revad_binary)
            [ -x "$binary" ] || die "$binary is missing: run \`make revad\` first"
            ensure_base python "$PYTHON_SUITE" "$PYTHON_PACKAGES" "$PYTHON_BASE"
            build test-reva tests/images/reva/Dockerfile "$PYTHON_BASE" --build-arg "REVAD_BINARY=$binary"
            ;;
        *) die "unknown target $target (base, hub, singleuser, token-refresher, proxy, test-reva)" ;;
    esac
done
