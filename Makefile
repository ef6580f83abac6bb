# Two commands: `make run` sets everything up and serves the API; `make test` runs every check.
# Each installs what it needs and no more: serving needs the service and its embedded
# PostgreSQL, testing adds the development tools, `make bench` the benchmarks' libraries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUM := $(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test bench openapi clean

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Dateline needs Python 3.11 or newer (set PYTHON=python3.x)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras and version of pyproject.toml: a set installed once is not again.
$(VENV)/.installed-%-$(SUM): | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e ".[$(subst +,$(comma),$*)]"
	touch $@

comma := ,

run: $(VENV)/.installed-embedded-$(SUM)
	$(BIN)/dateline run --demo

test: $(VENV)/.installed-embedded+dev-$(SUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo
	$(BIN)/pytest

bench: $(VENV)/.installed-embedded+dev+bench-$(SUM)
	$(BIN)/python -m bench

openapi: $(VENV)/.installed-embedded-$(SUM)
	$(BIN)/dateline openapi --output openapi.yaml

clean:
	rm -rf $(VENV) var
