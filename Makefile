# Two commands matter: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMPLE := 2026-11-24
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test bench golden browser venv typecheck clean

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

venv: $(VENV)/.installed

# Debian's Chromium drives the browser tests; install it when it is missing.
browser:
	@command -v chromium >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium for the browser tests…"; \
	  $(SUDO) apt-get update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get install -y -qq chromium >/dev/null; }

demo: venv
	$(BIN)/newsletter check $(SAMPLE)
	$(BIN)/newsletter build $(SAMPLE)
	@echo
	@echo "Open out/$(SAMPLE)/email.html in a browser, read out/$(SAMPLE)/email.txt,"
	@echo "or open out/$(SAMPLE)/sample.eml in a mail client."
	@echo "Live preview while editing: $(BIN)/newsletter preview $(SAMPLE)"

typecheck: venv
	$(BIN)/mypy

test: venv browser typecheck
	$(BIN)/pytest

# Rewrite tests/golden/ from the sample issue; review the diff before committing.
golden: venv
	$(BIN)/pytest tests/render/test_golden.py --regen-golden

bench: venv
	$(BIN)/python bench/render.py

clean:
	rm -rf $(VENV) out state test-artifacts .pytest_cache .mypy_cache
