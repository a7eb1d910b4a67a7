# Every target creates the virtual environment it needs (.venv, from pyproject.toml) first.
# Variables a user sets (PROFILE, URL, ...) reach commands through the environment, quoted as
# "$$NAME", never pasted into the shell line: a value cannot become shell syntax. Nor make
# syntax: each is re-set below to its unexpanded text ($(value ...)), so `PROFILE=$(shell ...)`
# is a profile name that does not exist, not a command make runs. The API key is read by
# smoke/bench from $$API_KEY and never appears on a command line or in make's echo.
PROFILE ?= prod
FORMAT ?= text
AGAINST ?= HEAD
UTILIZATION ?=
CONCURRENCY ?= 1,8,32
DUMMY ?=
TO ?=
WRITE ?=
WORKLOAD ?=
WHEELS ?= build/real-engine
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
READY := $(VENV)/.ready

.PHONY: help init render validate deploy setup pin-revision pin-image gates test lint recipes-doc sglang-manifest sglang-history migrate preflight plan diff rollback smoke bench readme clean real-engine-wheels real-engine

help:
	@echo "make init NAME=x MODEL=org/id LIKE=prod   a new profile (and a catalog stub for an unknown model)"
	@echo "make render   [PROFILE=prod]   render build/<profile>/modal_app.py"
	@echo "make validate [FORMAT=text|github|json]   validate every profile under profiles/"
	@echo "make setup    [PROFILE=prod] [DUMMY=1]   modal run: download weights, warm SGLang's compile caches"
	@echo "make pin-revision [PROFILE=prod]  pin model.revision to the commit it points at (Hub)"
	@echo "make pin-image [PROFILE=prod]  pin the serve image to its tag's digest (registry), in the lock"
	@echo "make deploy   [PROFILE=prod] [DUMMY=1]   validate, render, modal deploy (release gates if set)"
	@echo "make plan     [PROFILE=prod] [UTILIZATION=0.3]   capacity, cost, cold start, rule findings"
	@echo "make preflight [PROFILE=prod]  on Modal, CPU only: secrets, flags, weights, compile caches"
	@echo "make diff     [PROFILE=prod] [AGAINST=HEAD|<git ref>|deployed|<profile>]   settings, plan and app diff"
	@echo "make rollback [PROFILE=prod]   roll the Modal app back to its previous version"
	@echo "make smoke    URL=... [PROFILE=prod]   check a deployed endpoint (API_KEY from the environment)"
	@echo "make gates    URL=... [PROFILE=prod]   release gates (smoke, probe, latency) on a live endpoint"
	@echo "make bench    URL=... [CONCURRENCY=1,8,32] [WORKLOAD=agent]   latency/throughput/cost sweep (API_KEY from the environment)"
	@echo "make migrate  PROFILE=prod TO=0.5.23 [FORMAT=text|github|json] [WRITE=1]   what a new SGLang changes; WRITE=1 edits the profile"
	@echo "make sglang-manifest VERSION=x   extract a flag manifest from the real SGLang"
	@echo "make sglang-history             flag history of every SGLang release (what migrate reads)"
	@echo "make recipes-doc               write docs/recipes.md from generator/catalog/recipes.yaml"
	@echo "make real-engine-wheels        download, trim and split the real-engine wheel set (build/real-engine)"
	@echo "make real-engine [WHEELS=dir]  on the GPU machine: install it offline, run the lane (docs/real-engine.md)"
	@echo "make test                      run the test suite"
	@echo "make lint                      ruff check + format check"
	@echo "make readme                    rerun the README's console blocks and rewrite them"
	@echo "each target is also a command of .venv/bin/modal-sglang (see modal-sglang --help)"

USER_VARIABLES := NAME MODEL LIKE PROFILE URL AGAINST UTILIZATION CONCURRENCY VERSION API_KEY FORMAT DUMMY WORKLOAD TO WRITE WHEELS
$(foreach v,$(USER_VARIABLES),$(if $(filter undefined,$(origin $(v))),,$(eval override $(v) := $$(value $(v)))))
export $(USER_VARIABLES)

$(READY): pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install -qq --disable-pip-version-check -e '.[dev]'
	touch $(READY)

# A new profile NAME for the model MODEL on the deployment of LIKE; never overwrites a file.
init: $(READY)
	$(PY) -m generator init "$$NAME" --model "$$MODEL" --like "$${LIKE:-prod}"

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

# TO: the SGLang version to move to. WRITE=1 rewrites the profile (comments kept) if the result
# validates and renders.
migrate: $(READY)
	@test -n "$$TO" || (echo "usage: make migrate PROFILE=prod TO=0.5.23 [WRITE=1]" >&2; exit 2)
	$(PY) -m generator migrate "$$PROFILE" --to "$$TO" --format "$$FORMAT" $${WRITE:+--write}

# DUMMY=1: only the config and tokenizer files, for `make deploy DUMMY=1` (no weights download).
setup: $(READY)
	$(PY) -m generator setup "$$PROFILE" $${DUMMY:+--dummy-weights}

pin-revision: $(READY)
	$(PY) -m generator pin-revision "$$PROFILE"

pin-image: $(READY)
	$(PY) -m generator pin-image "$$PROFILE"

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

# The release gates with the profile's thresholds against an endpoint already live (no deploy).
gates: $(READY)
	@test -n "$$URL" || (echo "usage: make gates URL=https://... (API_KEY in the environment)" >&2; exit 2)
	$(PY) -m generator gates --profile "$$PROFILE" --url "$$URL"

bench: $(READY)
	@test -n "$$URL" || (echo "usage: make bench URL=https://... (API_KEY in the environment)" >&2; exit 2)
	$(PY) -m generator bench --profile "$$PROFILE" --url "$$URL" --concurrency "$$CONCURRENCY" $${WORKLOAD:+--workload "$$WORKLOAD"}

test: $(READY)
	$(PY) -m pytest -q

lint: $(READY)
	$(PY) -m ruff check generator tests scripts
	$(PY) -m ruff format --check generator tests scripts

recipes-doc: $(READY)
	$(PY) scripts/recipes_doc.py

sglang-manifest: $(READY)
	@test -n "$$VERSION" || (echo "usage: make sglang-manifest VERSION=0.5.23" >&2; exit 2)
	$(PY) scripts/sglang_manifest.py --version "$$VERSION"

# Every console block of README.md that can run here, rerun and rewritten (tests/test_readme.py
# checks they are current); the ones that need Modal or a GPU say why in the script.
readme: $(READY)
	$(PY) scripts/readme_console.py

# Every release's flag changes between the oldest and newest supported version, from the wheels.
sglang-history: $(READY)
	$(PY) scripts/sglang_manifest.py --history

# The real-engine lane (docs/real-engine.md). The wheel set is built here, from the package
# index; the lane runs on the GPU machine, which has no network and no venv: its python3 holds
# torch, and the wheel set the rest.
real-engine-wheels: $(READY)
	$(PY) scripts/real_engine/wheelset.py --out "$$WHEELS"

real-engine:
	scripts/real_engine/lane.sh "$$WHEELS"

clean:
	rm -rf build
