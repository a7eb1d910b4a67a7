# Every target creates the virtual environment it needs (.venv, from pyproject.toml) first.
# Variables a user sets (PROFILE, URL, ...) reach commands through the environment, quoted as
# "$$NAME", never pasted into the shell line: a value cannot become shell syntax. Nor make
# syntax: each is re-set below to its unexpanded text ($(value ...)), so `PROFILE=$(shell ...)`
# is a profile name that does not exist, not a command make runs. The API key is read by
# smoke/bench from $$API_KEY and never appears on a command line or in make's echo.
PROFILE ?= prod
FORMAT ?= text
AGAINST ?= deployed
UTILIZATION ?=
CONCURRENCY ?= 1,8,32
DUMMY ?=
WORKLOAD ?=
WHEELS ?= build/real-engine
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready

.PHONY: help render validate deploy setup pin-revision test lint sglang-manifest preflight plan diff rollback smoke bench clean real-engine-wheels real-engine

help:
	@echo "make render   [PROFILE=prod]   render build/<profile>/modal_app.py"
	@echo "make validate [FORMAT=text|github|json]   validate every profile under profiles/"
	@echo "make setup    [PROFILE=prod]   modal run: download weights, warm SGLang's compile caches"
	@echo "make pin-revision [PROFILE=prod]  pin model.revision to the commit it points at (Hub)"
	@echo "make deploy   [PROFILE=prod] [DUMMY=1]   validate, render, modal deploy (release gates if set)"
	@echo "make plan     [PROFILE=prod] [UTILIZATION=0.3]   capacity, cost, cold start, rule findings"
	@echo "make preflight [PROFILE=prod]  on Modal, CPU only: secrets, flags, weights, compile caches"
	@echo "make diff     [PROFILE=prod] [AGAINST=deployed|profile]   settings and app diff"
	@echo "make rollback [PROFILE=prod]   roll the Modal app back to its previous version"
	@echo "make smoke    URL=... [PROFILE=prod]   check a deployed endpoint (API_KEY from the environment)"
	@echo "make bench    URL=... [CONCURRENCY=1,8,32] [WORKLOAD=agent]   latency/throughput/cost sweep (API_KEY from the environment)"
	@echo "make sglang-manifest VERSION=x   extract a flag manifest from the real SGLang"
	@echo "make real-engine-wheels        download, trim and split the real-engine wheel set (build/real-engine)"
	@echo "make real-engine [WHEELS=dir]  on the GPU machine: install it offline, run the lane (docs/real-engine.md)"
	@echo "make test                      run the test suite"
	@echo "make lint                      ruff check + format check"
	@echo "each target is also a command of .venv/bin/modal-sglang (see modal-sglang --help)"

USER_VARIABLES := PROFILE URL AGAINST UTILIZATION CONCURRENCY VERSION API_KEY FORMAT DUMMY WORKLOAD WHEELS
$(foreach v,$(USER_VARIABLES),$(if $(filter undefined,$(origin $(v))),,$(eval override $(v) := $$(value $(v)))))
export $(USER_VARIABLES)

$(READY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[dev]'
	touch $(READY)

render: $(READY)
	$(PY) -m generator render "$$PROFILE"

# FORMAT=github annotates a pull request's files; FORMAT=json is for machines. It reaches the
# command through the environment, so no value can become shell syntax.
validate: $(READY)
	$(PY) -m generator validate --format "$$FORMAT"

# DUMMY=1: a dry run with SGLang's dummy weights as <app>-dummy (never the live app).
deploy: $(READY)
	$(PY) -m generator deploy "$$PROFILE" $${DUMMY:+--dummy-weights}

# UTILIZATION (optional): average replicas busy over a month, for the monthly cost.
plan: $(READY)
	$(PY) -m generator plan "$$PROFILE" $${UTILIZATION:+--utilization "$$UTILIZATION"}

setup: $(READY)
	$(PY) -m generator setup "$$PROFILE"

pin-revision: $(READY)
	$(PY) -m generator pin-revision "$$PROFILE"

preflight: $(READY)
	$(PY) -m generator preflight "$$PROFILE"

diff: $(READY)
	$(PY) -m generator diff "$$PROFILE" --against "$$AGAINST"

rollback: $(READY)
	$(PY) -m generator rollback "$$PROFILE"

# Credentials come from the environment only: API_KEY (or SGLANG_API_KEY), and for a profile
# behind Modal's proxy auth MODAL_PROXY_TOKEN_ID and MODAL_PROXY_TOKEN_SECRET.
# WORKLOAD=agent: multi-turn conversations sharing a system prompt and tools (prefix-cache hits).
smoke: $(READY)
	@test -n "$$URL" || (echo "usage: make smoke URL=https://... (API_KEY in the environment)" >&2; exit 2)
	$(PY) -m generator smoke --profile "$$PROFILE" --url "$$URL"

bench: $(READY)
	@test -n "$$URL" || (echo "usage: make bench URL=https://... (API_KEY in the environment)" >&2; exit 2)
	$(PY) -m generator bench --profile "$$PROFILE" --url "$$URL" --concurrency "$$CONCURRENCY" $${WORKLOAD:+--workload "$$WORKLOAD"}

test: $(READY)
	$(PY) -m pytest -q

lint: $(READY)
	$(PY) -m ruff check generator tests scripts
	$(PY) -m ruff format --check generator tests scripts

sglang-manifest: $(READY)
	@test -n "$$VERSION" || (echo "usage: make sglang-manifest VERSION=0.5.23" >&2; exit 2)
	$(PY) scripts/sglang_manifest.py --version "$$VERSION"

# The real-engine lane (docs/real-engine.md). The wheel set is built here, from the package
# index; the lane runs on the GPU machine, which has no network and no venv: its python3 holds
# torch, and the wheel set the rest.
real-engine-wheels: $(READY)
	$(PY) scripts/real_engine/wheelset.py --out "$$WHEELS"

real-engine:
	scripts/real_engine/lane.sh "$$WHEELS"

clean:
	rm -rf build
