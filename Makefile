# The two commands a new user needs (see README.md):
#   make up     install, create a workspace with the example services, run the studio
#   make test   install with test tools (and Debian's Chromium for browser tests), run the tests
PYTHON ?= python3
VENV ?= .venv
WORKSPACE ?= workspace
PY := $(VENV)/bin/python
STUDIO := $(VENV)/bin/studio

.PHONY: up test install bench clean-workspace

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[test]'
	touch $@

install: $(VENV)/.installed

up: $(VENV)/.installed
	@[ -f $(WORKSPACE)/studio.toml ] || $(STUDIO) init $(WORKSPACE)
	$(STUDIO) --home $(WORKSPACE) up

test: $(VENV)/.installed
	@scripts/ensure-chromium
	$(VENV)/bin/ruff check studio executors forms tests bench
	$(PY) -m pytest

bench: $(VENV)/.installed
	for b in bench/bench_*.py; do echo "== $$b"; $(PY) $$b || exit 1; done

clean-workspace:
	rm -rf $(WORKSPACE)
