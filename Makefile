# Every target creates the virtual environment it needs (.venv, from pyproject.toml) first.
PROFILE ?= prod
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready

.PHONY: help render validate deploy setup test lint sglang-manifest preflight plan diff rollback smoke bench clean

help:
	@echo "make render   [PROFILE=prod]   render build/<profile>/modal_app.py"
	@echo "make validate                  validate every profile under profiles/"
	@echo "make setup    [PROFILE=prod]   modal run: download weights, precompile DeepGEMM"
	@echo "make deploy   [PROFILE=prod]   validate, render, modal deploy"
	@echo "make test                      run the test suite"
	@echo "make lint                      ruff check + format check"

$(READY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --disable-pip-version-check -e '.[dev]'
	touch $(READY)

render: $(READY)
	$(PY) -m generator render $(PROFILE)

validate: $(READY)
	$(PY) -m generator validate

deploy: $(READY)
	$(PY) -m generator deploy $(PROFILE)

setup: $(READY)
	$(PY) -m generator render $(PROFILE)
	$(VENV)/bin/modal run build/$(PROFILE)/modal_app.py

test: $(READY)
	$(PY) -m pytest -q

lint: $(READY)
	$(PY) -m ruff check generator tests scripts
	$(PY) -m ruff format --check generator tests scripts

sglang-manifest: $(READY)
	@test -n "$(VERSION)" || (echo "usage: make sglang-manifest VERSION=0.5.23" >&2; exit 2)
	$(PY) scripts/sglang_manifest.py --version $(VERSION)

clean:
	rm -rf build
