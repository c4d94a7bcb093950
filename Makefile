# Peek: `make run` starts the whole platform, `make test` runs the tests.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
VENDOR := peek/static/vendor

.PHONY: run test bench install assets clean

run: install assets
	$(BIN)/peek run

# Test files are spread over TEST_WORKERS processes (each with its own PostgreSQL,
# Dask cluster and browser); a file's tests stay together, in order.
TEST_WORKERS ?= 2

test: install assets
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

install: $(VENV)/.installed

$(VENV)/.installed: setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[test]'
	touch $@

$(VENV)/.bench-installed: $(VENV)/.installed
	$(BIN)/python -m pip install --quiet -e '.[test,bench]'
	touch $@

node_modules/.package-lock.json: package.json package-lock.json
	npm ci --no-audit --no-fund

assets: $(VENDOR)/.copied

$(VENDOR)/.copied: node_modules/.package-lock.json
	mkdir -p $(VENDOR)
	cp node_modules/htmx.org/dist/htmx.min.js $(VENDOR)/htmx.min.js
	cp node_modules/htmx-ext-ws/dist/ws.min.js $(VENDOR)/htmx-ext-ws.min.js
	cp node_modules/@picocss/pico/css/pico.min.css $(VENDOR)/pico.min.css
	touch $@

# bench_codec measures the original platform's codec (vortexpy) beside ours, in
# an environment of its own; without it (no registry) the benchmark goes on alone.
REFERENCE_VENV ?= .venv-reference

$(REFERENCE_VENV)/.installed:
	@$(PYTHON) -m venv $(REFERENCE_VENV) \
		&& $(REFERENCE_VENV)/bin/python -m pip install --quiet 'vortexpy==6.2.2' \
		&& touch $@ \
		|| echo "the original's codec did not install: bench_codec runs without it"

bench: install assets $(VENV)/.bench-installed $(REFERENCE_VENV)/.installed
	@export PEEK_BENCH_REFERENCE_PYTHON=$(abspath $(REFERENCE_VENV))/bin/python; \
	if ls benchmarks/bench_*.py >/dev/null 2>&1; then \
		for b in benchmarks/bench_*.py; do sync; $(BIN)/python $$b || echo "BENCH $$(basename $$b .py | sed s/bench_//) error=\"exited $$?\""; done; \
	else echo "no benchmarks yet"; fi

clean:
	rm -rf $(VENV) $(REFERENCE_VENV) node_modules $(VENDOR) *.egg-info
