# Two entry points for people: `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REVA_VERSION := $(shell sed -n 's|^[[:space:]]*\(require \)\{0,1\}github.com/cs3org/reva/v3 \(v[^ ]*\).*|\2|p' tests/reva/go.mod)
REVAD := build/revad-$(REVA_VERSION)
PYTEST_ARGS ?=

.PHONY: run test bench lint format revad venv node helm pss clean prerequisites prerequisites-run \
	cluster-binaries

run: prerequisites-run venv revad node
	$(PY) -m tests.harness run

test: prerequisites venv revad node helm pss cluster-binaries
	$(PY) -m pytest $(PYTEST_ARGS)

# What the machine itself must have (Debian packages, a docker daemon, Go, Python, Node): one
# script holds the list, installs what is missing when it may, or names the command to run.
prerequisites:
	PYTHON=$(PYTHON) tests/setup/prerequisites.sh test

prerequisites-run:
	PYTHON=$(PYTHON) tests/setup/prerequisites.sh run

bench: venv revad node
	$(PY) -m pip install --quiet --disable-pip-version-check matplotlib pyinstrument
	$(PY) -m bench $(BENCH_ARGS)

lint: venv
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

format: venv
	$(VENV)/bin/ruff format .
	$(VENV)/bin/ruff check --fix .

venv: $(VENV)/.installed

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

# The binary's name carries the pinned version: a present binary is never rebuilt.
revad: $(REVAD)

$(REVAD):
	tests/reva/build.sh $@

# helm for the chart tests, built from its Go module; a present binary is never rebuilt. The
# ldflags are those of helm's release build: without them helm reports version "v3.22" and
# assumes Kubernetes 1.20 (client-go v0.37 of helm v3.22.0 means 1.37).
HELM_VERSION := v3.22.0
HELM := build/helm-$(HELM_VERSION)
HELM_LDFLAGS := -s -w -X helm.sh/helm/v3/internal/version.version=$(HELM_VERSION) \
	$(foreach pkg,pkg/lint/rules pkg/chartutil,-X helm.sh/helm/v3/$(pkg).k8sVersionMajor=1 \
	-X helm.sh/helm/v3/$(pkg).k8sVersionMinor=37)
helm: $(HELM)

$(HELM):
	mkdir -p build/helm-gobin
	GOBIN=$(abspath build/helm-gobin) CGO_ENABLED=0 go install -trimpath -ldflags '$(HELM_LDFLAGS)' \
		helm.sh/helm/v3/cmd/helm@$(HELM_VERSION)
	mv build/helm-gobin/helm $@
	rmdir build/helm-gobin

# The Pod Security checker of the chart tests: Kubernetes' own evaluator (tests/chart/pss),
# named for the pinned k8s.io/pod-security-admission; a present binary is never rebuilt.
PSS_VERSION := $(shell sed -n 's|^[[:space:]]*k8s.io/pod-security-admission \(v[^ ]*\).*|\1|p' tests/chart/pss/go.mod)
PSS := build/pss-check-$(PSS_VERSION)
pss: $(PSS)

$(PSS):
	cd tests/chart/pss && CGO_ENABLED=0 go build -trimpath -o $(abspath $@) .

# The images (hub, singleuser, token-refresher, proxy) on base images that debootstrap makes once
# (images/README.md); docker's layer cache makes a rebuild of unchanged images quick.
.PHONY: images
images:
	images/build.sh

# npm packages (the test identity provider, JupyterHub's proxy), reinstalled when the lock changes.
node: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf build tests/reva/vendor

# --- The test cluster (tests/cluster) ------------------------------------------------------
# Kubernetes, etcd, containerd, the CNI plugins and the programs of the images built there,
# all from the Go module proxy into build/, each named for its version; tests/cluster/build.sh
# builds only the files that are missing.
.PHONY: cluster-binaries
cluster-binaries:
	tests/cluster/build.sh build
