# Two commands set up everything on a fresh machine: `make demo` and `make test`.
# Each creates .venv and installs what it needs when missing.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The development install is setuptools' strict editable mode: build/ holds a tree of links to the
# sources that editors and type checkers follow. A module added or removed needs a new tree, so the
# stamp covers the list of package files as well as pyproject.toml.
PACKAGE_FILES := $(shell find edgecls trainer exporter runtime -name '*.py' -o -name py.typed | sort)
STAMP := $(VENV)/.installed-$(shell (cat pyproject.toml; echo $(PACKAGE_FILES)) | cksum | cut -d' ' -f1)

.PHONY: demo test test-fast lint bench install-check clean

$(STAMP): pyproject.toml
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[train,dev,bench,ray]' --config-settings editable_mode=strict
	@rm -f $(VENV)/.installed-*
	@touch $@

DEMO_OUT := $(or $(OUT),demo-out)

# The demo, then its model on the independent yardstick (another renderer, over real photographs).
demo: $(STAMP)
	$(BIN)/edgecls demo --out $(DEMO_OUT)
	$(BIN)/python benchmarks/independent.py yardstick $(DEMO_OUT)/run/model.onnx --out $(DEMO_OUT)/yardstick --seconds 12 \
		--json $(DEMO_OUT)/yardstick.json

test: $(STAMP)
	$(BIN)/python -m pytest $(PYTEST_ARGS)

test-fast: $(STAMP)
	$(BIN)/python -m pytest -m "not slow" $(PYTEST_ARGS)

# mypy runs from build/ (not the root, where the bare edgecls/ folder would hide the installed
# package) and its paths are mapped from the link tree back to the files you edit.
lint: $(STAMP)
	$(BIN)/ruff check .
	cd build && set -o pipefail && ../$(BIN)/mypy --config-file ../pyproject.toml --python-executable ../$(BIN)/python \
		-p edgecls | sed -E 's#^[^:]*__editable__[^/]*/edgecls/(trainer|exporter|runtime)/#\1/#; s#^[^:]*__editable__[^/]*/edgecls/#edgecls/#'

bench: $(STAMP)
	$(BIN)/python benchmarks/run.py

# Builds the sdist and wheel and runs the README's install lines in clean virtual environments.
install-check: $(STAMP)
	bash .ci/install-check

clean:
	rm -rf $(VENV) .pytest_cache build dist *.egg-info
