# Two entry points (CONTRACT.md): `make demo` runs the workflow on the bundled demo, `make test` runs the
# test suite. Both install what they need into .venv/ first, idempotently.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.install-stamp
CORES ?= 2
DEMO := resources/demo

.PHONY: install demo demo-data test test-fast lint format report benchmark clean

install: $(STAMP)

$(STAMP): requirements.txt requirements-nodeps.txt pyproject.toml
	@command -v ffmpeg >/dev/null 2>&1 || { \
	  echo "ffmpeg missing: installing it with apt-get"; \
	  (apt-get update -qq && apt-get install -y -qq ffmpeg) || \
	  { echo "could not install ffmpeg: install it with your package manager" >&2; exit 1; }; }
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -r requirements.txt
	$(BIN)/python -m pip install -q --no-deps -r requirements-nodeps.txt
	$(BIN)/python -m pip install -q --no-deps --no-build-isolation -e .
	touch $(STAMP)

demo-data: install
	$(BIN)/python -m facseq.demo $(DEMO)

demo: demo-data
	$(BIN)/snakemake --cores $(CORES)

test: install
	$(BIN)/python -m pytest -ra

test-fast: install
	$(BIN)/python -m pytest -ra -m "not slow"

lint: demo-data  # the default config points at the demo: lint needs its annotation CSV
	$(BIN)/snakemake --lint
	$(BIN)/snakefmt --check Snakefile workflow/

report: install
	$(BIN)/snakemake --cores $(CORES) --report results/demo/report.html

benchmark: install
	$(BIN)/python benchmarks/pipeline_throughput.py

clean:
	rm -rf results/demo .snakemake
