# Two commands on a fresh machine: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed

.PHONY: run test lint proto bench soak nginx clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

# Install Vectra (editable) with its development tools, and compile the Cython core in place.
$(STAMP): $(BIN)/python pyproject.toml setup.py $(wildcard policy_core/*.pyx)
	$(BIN)/pip install --quiet "Cython>=3.0" "setuptools>=77" wheel
	$(BIN)/pip install --quiet --no-build-isolation -e ".[dev,bench]"
	$(BIN)/python setup.py --quiet build_ext --inplace
	touch $(STAMP)

proto: $(STAMP)
	$(BIN)/python scripts/gen_proto.py

run: $(STAMP)
	VECTRA_POLICIES_DIR=$${VECTRA_POLICIES_DIR:-examples/policies} $(BIN)/vectra serve

# The whole suite twice: on the compiled core, then on the pure-Python twin (the daemons the end-to-end
# tests start inherit VECTRA_PURE_PYTHON, so the twin decides there too). The console's browser tests drive
# Debian's Chromium (Playwright never downloads a browser of its own): installed here when it is missing.
test: $(STAMP)
	@test -x /usr/bin/chromium || \
		apt-get install -y -qq chromium >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq chromium)
	$(BIN)/python -c "import policy_core; print('policy_core implementation:', policy_core.IMPLEMENTATION)"
	$(BIN)/ruff check .
	$(BIN)/python -m pytest -n 2 --dist loadfile -q
	VECTRA_PURE_PYTHON=1 $(BIN)/python -m pytest -n 2 --dist loadfile -q

lint: $(STAMP)
	$(BIN)/ruff check .

# nginx is the local upstream of the forwarding benchmarks and wrk the proxy benchmark's load generator; without
# them they fall back to a uvicorn upstream and a Python load generator. `make bench BENCH_ARGS=--quick` for a
# short run.
nginx:
	@command -v nginx >/dev/null 2>&1 || test -x /usr/sbin/nginx || \
		(apt-get install -y -qq nginx >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq nginx)) || \
		echo "nginx could not be installed: the benchmarks and the soak use a uvicorn upstream"

bench: $(STAMP) nginx
	@command -v wrk >/dev/null 2>&1 || \
		(apt-get install -y -qq wrk >/dev/null 2>&1 || (apt-get update -qq && apt-get install -y -qq wrk)) || \
		echo "wrk could not be installed: the proxy benchmark uses a Python load generator"
	$(BIN)/python benchmarks/run.py $(BENCH_ARGS)

# About ten minutes of mixed load on the real daemon, then the checks of benchmarks/soak.py's docstring.
# `make soak SOAK_ARGS="--duration 1800 --concurrency 64"` for another run.
soak: $(STAMP) nginx
	$(BIN)/python benchmarks/soak.py $(SOAK_ARGS)

clean:
	rm -rf $(VENV) build *.egg-info policy_core/*.c policy_core/*.so
