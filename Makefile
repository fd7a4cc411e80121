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

# onvif-python, an ONVIF client we did not write, installs a package named `onvif` like
# onvif-zeep does, so it lives in a venv of its own that tests call in a subprocess.
PEERS := .venv-peers/.installed
$(PEERS):
	test -x .venv-peers/bin/python || $(PYTHON) -m venv .venv-peers
	.venv-peers/bin/python -m pip install -q onvif-python==0.4.7
	touch $(PEERS)

# Browser libraries (ECharts) from the npm registry at the versions web/package-lock.json pins,
# copied where Sitewatch serves them itself (/static/vendor/): control rooms are offline.
VENDOR := api/static/vendor/echarts.min.js
$(VENDOR): web/package.json web/package-lock.json
	npm ci --prefix web --ignore-scripts --no-audit --no-fund
	mkdir -p $(dir $(VENDOR))
	cp web/node_modules/echarts/dist/echarts.min.js $(VENDOR)

demo: $(STAMP) $(VENDOR)
	$(BIN)/sitewatch demo

test: $(STAMP) $(PEERS) $(VENDOR) services
	$(BIN)/python -m pytest

services:
	bash deploy/test-services.sh

bench: $(STAMP)
	$(BIN)/python -m bench.bench_collector
	$(BIN)/python -m bench.bench_gateway
	$(BIN)/python -m bench.bench_rules
	$(BIN)/python -m bench.bench_stores
	$(BIN)/python -m bench.bench_onvif
	$(BIN)/python -m bench.bench_picture
	$(BIN)/python -m bench.bench_review
	$(BIN)/python -m bench.bench_influx  # starts its own victoria-metrics (Debian package); ~4 min, most of it loading 69 M samples
	$(BIN)/python -m bench.bench_paging
	$(BIN)/python -m bench.bench_control_room  # needs ab (Debian: apache2-utils) and /usr/bin/chromium
	$(BIN)/python -m bench.bench_fleet  # PostgreSQL, Mosquitto, victoria-metrics; 1 then 2 workers, ~8 min each (deploy/SIZING.md)

clean:
	rm -rf $(VENV) .venv-peers var build *.egg-info web/node_modules api/static/vendor
