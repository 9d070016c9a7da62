# The two commands a newcomer needs are `make demo` and `make test`; everything else is a helper of theirs.
# Installs go into .venv with the project's own pins (constraints.txt), since Airflow's published
# constraints files are not reachable from every build machine.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-unit lint bench

$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt -e '.[dev]'
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/sf1630 demo

# loadgroup: a module marked xdist_group runs on one worker, so its module-scoped demo run happens once.
test: install
	$(BIN)/pytest -n 2 --dist loadgroup

# The part of the suite that needs no service (no emulator, PostgreSQL or Airflow metadata DB).
test-unit: install
	$(BIN)/pytest -n 2 --dist loadgroup -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done
