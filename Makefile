# The two commands a new user needs:  `make demo`  and  `make test`.
# Both create .venv and install tradekit (editable, with the dev extra) when missing.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.tradekit-installed

.PHONY: demo test test-fast bench drill venv clean help

help:
	@echo "make demo   - run a whole paper-trading day (papermill chain) on bundled NSE data, no account needed"
	@echo "make test   - run the whole test suite (installs chromium for browser tests when possible)"
	@echo "make bench  - run the benchmarks and print figures"
	@echo "make drill  - kill -9 a live session on the Kite sandbox 200 times under a fault storm; print lost/duplicated/stranded/mismatched"

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e ".[dev]"
	@touch $(STAMP)

venv: $(STAMP)

demo: $(STAMP)
	$(BIN)/tradekit run day --date 2016-08-17 -c config/demo.yaml

test: $(STAMP)
	@scripts/ensure-system-deps
	$(BIN)/python -m pytest

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not browser and not notebook and not slow"

bench: $(STAMP)
	$(BIN)/python -m benchmarks

drill: $(STAMP)
	$(BIN)/python scripts/drill.py $(DRILL_ARGS)

clean:
	rm -rf $(VENV) var .pytest_cache .hypothesis
