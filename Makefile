# Anke: `make run` serves the embedded default; `make test` passes the suite. Both set up .venv
# from the hash-pinned lock files first (requirements/*.txt, compiled from pyproject.toml).

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PYTEST_ARGS ?=

.PHONY: run test test-browser lint bench lock messages clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# The project itself installs in editable mode (for the `anke` console script) with pinned
# build tools, so nothing unpinned is fetched.
$(VENV)/.base: requirements/base.txt requirements/build.txt pyproject.toml | $(BIN)/python
	$(BIN)/pip install -q --require-hashes -r requirements/build.txt
	$(BIN)/pip install -q --require-hashes -r requirements/base.txt
	$(BIN)/pip install -q --no-deps --no-build-isolation -e .
	touch $@

$(VENV)/.dev: requirements/dev.txt $(VENV)/.base
	$(BIN)/pip install -q --require-hashes -r requirements/dev.txt
	touch $@

run: $(VENV)/.base
	$(BIN)/anke run

test: $(VENV)/.dev
	$(BIN)/pytest -n 2 $(PYTEST_ARGS)

test-browser: $(VENV)/.dev
	ANKE_REQUIRE_BROWSER=1 $(BIN)/pytest -m browser $(PYTEST_ARGS)

lint: $(VENV)/.dev
	$(BIN)/ruff check .
	$(BIN)/python manage.py makemigrations --check --dry-run
	ANKE_PRODUCTION=1 ANKE_HTTPS=1 ANKE_SECRET_KEY=lint-only-$$(head -c 24 /dev/urandom | od -An -tx1 | tr -d ' \n') \
		ANKE_TRUSTED_PROXY_HOPS=1 $(BIN)/python manage.py check --deploy --fail-level WARNING

bench: $(VENV)/.dev
	$(BIN)/python -m bench $(BENCH_ARGS)

lock: $(BIN)/python
	$(BIN)/pip install -q pip-tools
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe -o requirements/base.txt pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --strip-extras --allow-unsafe --extra dev -o requirements/dev.txt pyproject.toml
	$(BIN)/pip-compile -q --generate-hashes --allow-unsafe -o requirements/build.txt requirements/build.in

# Needs GNU gettext. English source strings are their own English translation: every English
# msgstr is emptied (makemessages fills new ones with fuzzy guesses from similar strings) and msgen
# copies each msgid into it. New Chinese strings arrive empty (or fuzzy) and
# tests/web/test_i18n.py fails until they are translated.
EN_PO := anke/locale/en/LC_MESSAGES/django.po
messages: $(VENV)/.dev
	cd anke && ../$(BIN)/python ../manage.py makemessages -l zh_Hans -l en --no-obsolete --no-location -i "static/*"
	msgattrib --clear-fuzzy --clear-previous $(EN_PO) -o $(EN_PO)
	msgfilter --keep-header -i $(EN_PO) -o $(EN_PO) sed -e d
	msgen $(EN_PO) -o $(EN_PO)
	cd anke && ../$(BIN)/python ../manage.py compilemessages

clean:
	rm -rf $(VENV) var
