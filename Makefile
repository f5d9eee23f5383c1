# The two commands of the README: `make run` and `make test`. Both work on a fresh machine with
# only Python 3.11+ and are safe to re-run.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 5000
TRANSLATIONS := portal/translations
PO_FILES := $(wildcard $(TRANSLATIONS)/*/LC_MESSAGES/messages.po)
MO_FILES := $(PO_FILES:.po=.mo)

.PHONY: run test lint format translations extract-messages dist clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

$(VENV)/.installed: pyproject.toml | $(BIN)/python
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e .
	touch $@

$(VENV)/.installed-test: pyproject.toml | $(BIN)/python
	PYTHONWARNINGS="ignore:Editable installation" $(BIN)/python -m pip install --quiet -e '.[test,dev]'
	touch $@ $(VENV)/.installed

%.mo: %.po
	$(BIN)/pybabel compile --statistics -i $< -o $@

translations: $(VENV)/.installed $(MO_FILES)

run: $(VENV)/.installed translations
	$(BIN)/portal init
	$(BIN)/portal demo
	@echo ""
	@echo "The portal is starting on http://$(HOST):$(PORT)/"
	@echo "  Reporter:   http://$(HOST):$(PORT)/report    and   http://$(HOST):$(PORT)/follow-up"
	@echo "  Officers:   http://$(HOST):$(PORT)/officer/login   (accounts above)"
	@echo "  Supervisor: http://$(HOST):$(PORT)/supervisor/     Admin: http://$(HOST):$(PORT)/admin/"
	@echo "Stop it with Ctrl+C."
	$(BIN)/portal run --host $(HOST) --port $(PORT)

test: $(VENV)/.installed-test translations
	$(BIN)/python -m pytest

lint: $(VENV)/.installed-test
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: $(VENV)/.installed-test
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

extract-messages: $(VENV)/.installed-test
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext -o $(TRANSLATIONS)/messages.pot --no-location --sort-output --no-wrap .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-fuzzy-matching --ignore-obsolete --no-wrap
	$(BIN)/python -m portal.cli.i18n_tools fill-english

# A wheel and an sdist in dist/, carrying templates, static files, migrations and the compiled
# catalogues (install either with pip, then `portal init`).
dist: $(VENV)/.installed-test translations
	rm -rf dist build
	$(BIN)/python -m build --outdir dist .

clean:
	rm -rf $(VENV) .pytest_cache .ruff_cache dist build
