#!/bin/sh
# The pip steps every Python image shares (hub, singleuser, token-refresher):
#   install.sh deps REQUIREMENTS   pinned wheels into the virtualenv /opt/venv, which finds the
#                                  project's folder /opt/cs3-jupyterhub through a .pth file
#   install.sh app CHECK...        the project from /src into /opt/cs3-jupyterhub (its
#                                  dependencies are the pins above), then run CHECK
# The optional `ca` build secret is a CA bundle for pip (a TLS-inspecting proxy); it is mounted
# for the one step that runs this and never stored in a layer.
set -eu
if [ -s /run/secrets/ca ]; then
    export PIP_CERT=/run/secrets/ca
fi
step=${1:-}
[ $# -gt 0 ] && shift
case "$step" in
deps)
    python3 -m venv /opt/venv
    /opt/venv/bin/pip install --no-deps --only-binary=:all: -r "$1"
    purelib=$(/opt/venv/bin/python -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
    echo /opt/cs3-jupyterhub > "$purelib/cs3-jupyterhub.pth"
    ;;
app)
    /opt/venv/bin/pip install --no-deps --target /opt/cs3-jupyterhub /src
    "$@"
    ;;
*)
    echo "usage: install.sh deps REQUIREMENTS | install.sh app CHECK..." >&2
    exit 2
    ;;
esac
