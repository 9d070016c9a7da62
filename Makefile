# The two commands a newcomer needs are `make demo` and `make test`; everything else is a helper of theirs.
# Installs go into .venv with the project's own pins (constraints.txt), since Airflow's published
# constraints files are not reachable from every build machine.
PYTHON ?= python3.11
VENV ?= .venv
BIN := $(VENV)/bin

.PHONY: install demo test test-unit lint bench

# uv resolves and installs the same pinned set as pip in well under a minute (pip took 3-5 on the 2-core
# machine); pip only installs uv itself, at the version pinned in constraints.txt.
# --compile-bytecode and compileall: uv writes no .pyc files, and where PYTHONDONTWRITEBYTECODE is set (as on
# the build machines) Python never does either, so every process would compile what it imports, every time
# (docs/deploy.md, "Install with bytecode compiled").
$(BIN)/.installed: pyproject.toml constraints.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --disable-pip-version-check -c constraints.txt uv
	$(BIN)/uv pip install -q --compile-bytecode --python $(BIN)/python -c constraints.txt -e '.[dev]'
	$(BIN)/python -m compileall -q -j 0 include dags plugins bench tests >/dev/null
	touch $@

install: $(BIN)/.installed

demo: install
	$(BIN)/sf1630 demo

# loadfile: each test module runs on one worker, so its module-scoped fixtures (a demo run, an Airflow stack,
# a DagBag) are made once. (pytest-xdist 3.8's loadgroup is a no-op under pytest 9.2: the xdist_group
# suffix it writes into node ids is ignored, so grouped modules were split and their fixtures made twice.)
# --no-loadscope-reorder keeps collection order, which starts the long service modules first (xdist would
# otherwise put modules with few, long tests last, where one worker runs them while the other idles).
PYTEST_XDIST := -n 2 --dist loadfile --no-loadscope-reorder

test: install
	$(BIN)/pytest $(PYTEST_XDIST)

# The part of the suite that needs no service (no emulator, PostgreSQL or Airflow metadata DB).
test-unit: install
	$(BIN)/pytest $(PYTEST_XDIST) -m "not integration"

lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

bench: install
	for b in bench/bench_*.py; do echo "== $$b"; $(BIN)/python $$b || exit 1; done
