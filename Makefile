# Everything runs from a project-local virtual environment made from python3.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
BASE := $(VENV)/.installed-base
DEMO_DIR ?= .demo
# The torch release installed when one is (the one the tests run on), and the oldest
# kept when already installed and working (torch.serialization.safe_globals: 2.5).
export TORCH_VERSION ?= 2.13.0
export TORCH_MIN ?= 2.5
# torch's build is chosen for this machine (docs/gpu.md, "torch"); to choose one, e.g.
# on a login node without GPUs:  make install TORCH_BUILD=cu126   (cpu, cu126, cu128, cu130)
# or to take torch from one index only:  make install TORCH_INDEX=URL
export TORCH_BUILD ?=
export TORCH_INDEX ?=
# The pip that installs into the venv (the install tests swap in a stub that only logs).
PIP ?= $(BIN)/pip

.PHONY: install install-base FORCE bytecode lint test test-fast demo bench gpu-wheels snapshot-update clean

# Everything: lbtui, torch, and the test, Ray and lint extras (make test, make lint).
install: $(STAMP)

# What running lbtui needs, no extras: lbtui and torch (make demo; a user's install).
install-base: $(BASE)

# The torch settings of the last install: another TORCH_BUILD (or version, index)
# makes `make install` run again on an installed venv.
TORCH_CHOICE := $(VENV)/.torch-choice
$(TORCH_CHOICE): FORCE
	@mkdir -p $(VENV)
	@echo '$(TORCH_VERSION) $(TORCH_MIN) $(TORCH_BUILD) $(TORCH_INDEX)' | cmp -s - $@ \
		|| echo '$(TORCH_VERSION) $(TORCH_MIN) $(TORCH_BUILD) $(TORCH_INDEX)' > $@
FORCE:

INSTALL_DEPS := pyproject.toml Makefile scripts/install_torch.sh scripts/torch_wheel.py scripts/torch_fetch.py \
	$(TORCH_CHOICE)

$(STAMP): $(INSTALL_DEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/install_torch.sh $(PIP) $(BIN)/python
	$(PIP) install -q -e '.[test,ray,lint]'
	touch $(BASE) $(STAMP)

$(BASE): $(INSTALL_DEPS)
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	scripts/install_torch.sh $(PIP) $(BIN)/python
	$(PIP) install -q -e .
	touch $(BASE)

# The sources' bytecode, written even where PYTHONDONTWRITEBYTECODE is set (as on
# CI images): every run spawns worker processes that import the engine afresh, and
# compiling it from source costs each about 0.13 s of CPU (the tests start hundreds).
# Only files changed since are compiled again.
COMPILE := $(BIN)/python -m compileall -q -j 0 lbtui virnucpro_bridge
bytecode: install
	$(COMPILE)

# ruff's rules and mypy's settings are in pyproject.toml ([tool.ruff], [tool.mypy]);
# CI runs this before the tests.
lint: install
	$(BIN)/ruff check .
	$(BIN)/mypy

# Test files run in parallel, each file's tests in one process, in the order
# tests/conftest.py sets. One worker more than cores: many tests wait on processes
# and timers, and the extra worker fills those gaps (2 cores: 4:45 against 5:44).
TEST_JOBS ?= $(shell $(PYTHON) -c 'import os; print((os.cpu_count() or 1) + 1)')
PYTEST_PARALLEL := -n $(TEST_JOBS) --dist loadfile --no-loadscope-reorder

test: bytecode
	$(BIN)/python -m pytest -q -p no:cacheprovider $(PYTEST_PARALLEL)

# No worker processes and no models: the loop to run after every change.
test-fast: bytecode
	$(BIN)/python -m pytest -q -p no:cacheprovider -m "not slow" $(PYTEST_PARALLEL)

# The VirNucPro pipeline on the built-in demo inputs with small random-weight
# models: on the GPUs if there are any, else on CPU workers.
demo: install-base
	$(COMPILE)
	# (re)made unless they load: demo models from an older lbtui are replaced
	$(BIN)/lbtui models check $(DEMO_DIR)/models >/dev/null 2>&1 || $(BIN)/lbtui models init-demo $(DEMO_DIR)/models
	rm -rf $(DEMO_DIR)/run  # a demo shows the whole run, not a resume of the last one
	$(BIN)/lbtui run --task virnucpro --models $(DEMO_DIR)/models --out $(DEMO_DIR)/run lbtui/demo_data

bench: bytecode
	$(BIN)/python benchmarks/run_all.py

# .whl/: what the GPU check needs of ours, as wheels for CPython 3.10-3.13 (under 64 MB),
# for a GPU machine without a package index: copy the checkout with it, then run
# PYTHON=python3 scripts/gpu_check.sh there (docs/gpu.md, "The GPU check").
gpu-wheels:
	$(PYTHON) scripts/gpu_wheels.py --dest .whl

snapshot-update: install
	$(BIN)/python -m pytest -q tests/app --snapshot-update

clean:
	rm -rf $(VENV) $(DEMO_DIR) lbtui-results .whl
