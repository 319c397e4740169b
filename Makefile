# Two commands do everything: `make run` (the nightly pipeline once, on the bundled snapshot) and
# `make test`. Both create the environment from uv.lock first, so a fresh clone needs only
# Python 3.11+ and make.
PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(TOOLS)/bin/uv
VENV := .venv
# Bytecode compiled at install: this environment sets PYTHONDONTWRITEBYTECODE=1, and without .pyc
# files importing prefect + GX costs twice as long on every run (TOOLCHAIN-NOTES).
export UV_COMPILE_BYTECODE := 1
export UV_PROJECT_ENVIRONMENT := $(VENV)

.PHONY: run test install status clean-warehouse snapshot bench bench-dlt-env

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

$(VENV)/.installed: uv.lock pyproject.toml | $(UV)
	$(UV) sync --frozen --all-groups
	touch $@

install: $(VENV)/.installed

run: install
	$(VENV)/bin/ciw run

test: install
	$(VENV)/bin/python -m pytest -n 2 --dist loadfile  # two workers; a test file stays on one

status: install
	$(VENV)/bin/ciw status

# Rebuild the bundled World Bank snapshot from ../shared/data (maintainers only).
snapshot: install
	$(VENV)/bin/python tools/build_snapshot.py

clean-warehouse:
	find warehouse -mindepth 1 -not -name README.md -not -name .gitignore -exec rm -rf {} +

# Performance at WDI scale against a DuckDB floor (bench/scale.py; about 25 min for all sizes).
BENCH_SIZES ?= 100k,1M,10M
BENCH_FORMATS ?= json,csv
bench: install
	$(VENV)/bin/python bench/scale.py --sizes $(BENCH_SIZES) --formats $(BENCH_FORMATS)

# dlt as a second baseline, in its own environment (not a dependency of ciw).
bench-dlt-env: | $(UV)
	$(UV) venv -q $(TOOLS)/dlt-venv --python 3.11
	$(UV) pip install -q --python $(TOOLS)/dlt-venv/bin/python "dlt[duckdb]==1.31.0" duckdb==2.0.0 pyarrow==26.0.1 httpx pyyaml "numpy>=2,<3"
