# Every target sets itself up from a fresh clone: a venv with uv, then the locked dependencies.
PYTHON ?= python3
VENV   := .venv
TOOLS  := .tools
UV     := $(TOOLS)/bin/uv
BIN    := $(VENV)/bin
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: setup demo test lint typecheck pytest bench clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check 'uv>=0.5'

$(VENV)/.synced: $(UV) pyproject.toml uv.lock
	$(UV) sync --frozen --quiet
	touch $@

setup: $(VENV)/.synced

demo: setup
	$(BIN)/provmon demo $(if $(FOR),--for $(FOR),)

lint: setup
	$(BIN)/ruff check monitor probes tests bench
	$(BIN)/ruff format --check monitor probes

typecheck: setup
	$(BIN)/mypy --strict monitor probes

# PostgreSQL: a throwaway cluster on loopback when the server is installed (CI always has it)
pytest: setup
	@if [ -z "$$PROVMON_TEST_DATABASE_URL" ] && url=$$(scripts/pg-test.sh start 2>/dev/null); then \
		export PROVMON_TEST_DATABASE_URL=$$url; echo "PostgreSQL for tests: $$url"; fi; \
	$(BIN)/pytest -q $(PYTEST_ARGS)

test: lint typecheck pytest

bench: setup
	$(BIN)/python -m bench

clean:
	rm -rf $(VENV) $(TOOLS) .mypy_cache .ruff_cache .pytest_cache data
