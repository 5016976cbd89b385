# Two commands for a fresh machine:  make demo  (run the main job)  and  make test  (run the tests).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
RUN ?= runs/default
CONFIG ?= configs/default.yaml

.PHONY: demo demo-nulls smoke test test-fast lint bench install clean

$(BIN)/traitrl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	# torch==2.13.0 is pinned in pyproject: pip takes the CPU wheel already on this machine's disk.
	$(BIN)/pip install --quiet -e '.[dev]'
	@touch $@

install: $(BIN)/traitrl

demo: install
	$(BIN)/traitrl run --config $(CONFIG) --out $(RUN)

# The null runs (corpus.rho = 0 and corpus.operator_tie = 0) beside the default run's claims, both at
# once; each rebuilds $(RUN)/report.html when it finishes. They take about as long as the demo.
demo-nulls: install
	$(BIN)/traitrl nulls --run $(RUN) --only rho0 --workers 1 & a=$$!; \
	$(BIN)/traitrl nulls --run $(RUN) --only tau0 --workers 1 & b=$$!; \
	wait $$a; ra=$$?; wait $$b; rb=$$?; test $$ra -eq 0 && test $$rb -eq 0

smoke: install
	$(BIN)/traitrl run --config configs/smoke.yaml --out runs/smoke

# Two pytest workers: most tests are single-threaded subprocess runs, so the two cores halve the wall time.
test: install
	$(BIN)/python -m pytest -q -n 2 --dist worksteal

test-fast: install
	$(BIN)/python -m pytest -q -n 2 --dist worksteal -m "not slow"

lint: install
	$(BIN)/ruff check .

bench: install
	$(BIN)/python bench/bench_grader.py

clean:
	rm -rf $(VENV) runs .pytest_cache
