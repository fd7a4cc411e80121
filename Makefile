# The two set-up commands: `make demo` and `make test`. Both create .venv on first use.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed

.PHONY: demo test bench services clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[test]'
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/sitewatch demo

test: $(STAMP) services
	$(BIN)/python -m pytest

services:
	bash deploy/test-services.sh

bench: $(STAMP)
	$(BIN)/python -m bench.bench_collector
	$(BIN)/python -m bench.bench_rules
	$(BIN)/python -m bench.bench_stores

clean:
	rm -rf $(VENV) var build *.egg-info
