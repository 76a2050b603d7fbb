# The two commands a new user needs:  `make demo`  and  `make test`.
# Both create .venv and install tradekit (editable, with the dev extra) when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tradekit-installed

.PHONY: demo test test-fast bench drill venv lock clean help

help:
	@echo "make demo   - run a whole paper-trading day (papermill chain) on bundled NSE data, no account needed"
	@echo "make test   - run the whole test suite (installs chromium for browser tests when possible)"
	@echo "make bench  - run the benchmarks and print figures"
	@echo "make lock   - refresh requirements.lock: the newest versions pyproject.toml allows, in a throwaway venv"
	@echo "make drill  - kill -9 a live session on the Kite sandbox 200 times under a fault storm; print lost/duplicated/stranded/mismatched"

LOCK   := requirements.lock

$(STAMP): pyproject.toml $(LOCK)
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	@echo "installing tradekit and its pinned dependencies ($(LOCK)) into $(VENV): a few minutes the first time"
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar on -c $(LOCK) -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/tradekit run day --date 2016-08-17 -c config/demo.yaml

# The suite runs on the machine's cores (pytest-xdist), at most 4 workers; TEST_WORKERS=0 runs it in one process.
TEST_WORKERS ?= auto

test: $(STAMP)
	@scripts/ensure-system-deps
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses=4

test-fast: $(STAMP)
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --maxprocesses=4 -m "not browser and not notebook and not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

# The newest versions pyproject.toml's lower bounds allow, resolved in a throwaway venv (the
# project's .venv is left alone), frozen into requirements.lock. Run `make test` afterwards.
LOCK_VENV ?= .lock-venv
lock:
	rm -rf $(LOCK_VENV)
	$(PYTHON) -m venv $(LOCK_VENV)
	$(LOCK_VENV)/bin/python -m pip install --quiet --upgrade pip
	$(LOCK_VENV)/bin/python -m pip install --progress-bar on -e ".[dev]"
	{ sed -n '/^#/p' $(LOCK); \
	  $(LOCK_VENV)/bin/python -m pip freeze --exclude-editable | grep -v '^#' | grep -iv '^tradekit=='; } > $(LOCK).new
	mv $(LOCK).new $(LOCK)
	rm -rf $(LOCK_VENV)
	@echo "$(LOCK) refreshed: run make test, then commit it"

drill: $(STAMP)
	$(BIN)/python scripts/drill.py $(DRILL_ARGS)

clean:
	rm -rf $(VENV) $(LOCK_VENV) var .pytest_cache .hypothesis
