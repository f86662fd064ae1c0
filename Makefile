# The README's two commands: `make run` and `make test`. Both set up what they need first:
# system packages (make deps), a Python 3.12 virtual environment in .venv, and the project in it.
# Every step is skipped when nothing it depends on changed.

VENV     := .venv
PY       := $(VENV)/bin/python
STAMP    := $(VENV)/.carmind-installed
DEPS     := .stamp-deps
ARGS     ?=

.PHONY: run test deps venv bench lint typecheck check clean

run: deps $(STAMP)
	$(VENV)/bin/carmind run $(ARGS)

test: deps $(STAMP)
	$(PY) -m pytest -q $(ARGS)

deps: $(DEPS)

$(DEPS): scripts/install-deps
	@scripts/install-deps && touch $@ || true

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(PY) || { python=$$(scripts/find-python) && echo "creating $(VENV) with $$python" && "$$python" -m venv $(VENV); }
	@$(PY) -c 'import sys; sys.exit(sys.version_info[:2] != (3, 12))' || { echo "$(VENV) is not Python 3.12: remove it and run make again" >&2; exit 1; }
	$(PY) -m pip install --quiet --disable-pip-version-check --upgrade pip
	$(PY) -m pip install --quiet --disable-pip-version-check -e ".[dev,assistant,navigation,connect,drive]"
	@touch $@

bench: $(STAMP)
	$(PY) benchmarks/run_all.py

lint: $(STAMP)
	$(VENV)/bin/ruff check src tests benchmarks
	$(VENV)/bin/ruff format --check src tests benchmarks

typecheck: $(STAMP)
	$(VENV)/bin/mypy

check: lint typecheck test

clean:
	rm -rf $(VENV) $(DEPS) .pytest_cache .mypy_cache .ruff_cache
