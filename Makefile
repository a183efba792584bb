# Two entry points for people: `make run` and `make test`. Each installs what it needs.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
REVA_VERSION := $(shell sed -n 's|^[[:space:]]*\(require \)\{0,1\}github.com/cs3org/reva/v3 \(v[^ ]*\).*|\2|p' tests/reva/go.mod)
REVAD := build/revad-$(REVA_VERSION)
PYTEST_ARGS ?=

.PHONY: run test bench lint format revad venv node clean

run: venv revad node
	$(PY) -m tests.harness run

test: venv revad node
	$(PY) -m pytest $(PYTEST_ARGS)

bench: venv revad node
	mkdir -p bench/results
	$(PY) -m bench.chunked_upload_rss | tee bench/results/chunked_upload_rss.md

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

# npm packages (the test identity provider, JupyterHub's proxy), reinstalled when the lock changes.
node: node_modules/.installed

node_modules/.installed: package.json package-lock.json
	npm ci --no-audit --no-fund
	touch $@

clean:
	rm -rf build tests/reva/vendor
