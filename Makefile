# Two commands matter: `make demo` and `make test`. Both set everything up on a fresh machine.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
SAMPLE := 2026-11-24
SUDO   := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
# Another apt run (unattended upgrades, a second `make test`) holds dpkg's lock: wait for it, up to 10 minutes.
APT_WAIT := -o DPkg::Lock::Timeout=600
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: demo test bench golden screenshots system-packages venv typecheck clean messages docs

$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet -e '.[test,docs]'
	touch $@

venv: $(VENV)/.installed

# Debian packages the tests drive for real: Chromium (browser tests), SpamAssassin and a
# PostgreSQL server (the store's PostgreSQL tests start their own on 127.0.0.1), Dovecot's IMAP
# server (the bounce reader's IMAP tests start their own on 127.0.0.1), OpenDKIM's verifier (the DKIM
# tests run it offline, tests/helpers/opendkim.py), Hunspell's French and English dictionaries (the
# spelling check of `newsletter check`).
system-packages:
	@missing=""; \
	command -v chromium >/dev/null 2>&1 || missing="$$missing chromium"; \
	command -v spamassassin >/dev/null 2>&1 || missing="$$missing spamassassin"; \
	ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || missing="$$missing postgresql"; \
	[ -x /usr/sbin/dovecot ] || missing="$$missing dovecot-imapd"; \
	[ -x /usr/sbin/opendkim-testmsg ] || missing="$$missing opendkim-tools"; \
	ls /usr/lib/*/libenchant-2.so.2 >/dev/null 2>&1 || missing="$$missing libenchant-2-2"; \
	[ -f /usr/share/hunspell/fr_FR.dic ] || missing="$$missing hunspell-fr"; \
	[ -f /usr/share/hunspell/en_US.dic ] || missing="$$missing hunspell-en-us"; \
	if [ -n "$$missing" ]; then \
	  echo "Installing Debian packages:$$missing"; \
	  $(SUDO) apt-get $(APT_WAIT) update -qq && \
	  DEBIAN_FRONTEND=noninteractive $(SUDO) apt-get $(APT_WAIT) install -y -qq $$missing >/dev/null; \
	fi

# The demo signs unsubscribe links with a throwaway key unless NEWSLETTER_SECRET_KEY is set.
demo: venv
	$(BIN)/newsletter check $(SAMPLE)
	$(BIN)/newsletter build $(SAMPLE)
	$(BIN)/newsletter subscribers import subscribers.example.csv
	$(BIN)/newsletter approve $(SAMPLE) --by "make demo"
	NEWSLETTER_SECRET_KEY="$${NEWSLETTER_SECRET_KEY:-demo-only-not-secret}" $(BIN)/newsletter send $(SAMPLE)
	@echo
	@echo "Where to look:"
	@echo "  out/$(SAMPLE)/email.html   the email as a subscriber sees it (open it in a browser)"
	@echo "  out/$(SAMPLE)/email.txt    its plain-text part"
	@echo "  out/outbox/new/           one .eml per subscriber (open one in a mail client)"
	@echo "  state/newsletter.db       subscribers and the send ledger: $(BIN)/newsletter status $(SAMPLE)"
	@echo "Live preview while editing: $(BIN)/newsletter preview $(SAMPLE)"
	@echo "Public pages (one-click unsubscribe, archive): NEWSLETTER_SECRET_KEY=demo-only-not-secret $(BIN)/newsletter serve"
	@echo "The next scheduled issues: $(BIN)/newsletter schedule show"
	@echo "Editors' desk in a browser: $(BIN)/newsletter users add camille --role editor, then NEWSLETTER_SECRET_KEY=… $(BIN)/newsletter desk"

typecheck: venv
	$(BIN)/mypy

# The suite runs under a clock moved TEST_CLOCK_SHIFT days ahead (tests/helpers/clock.py): a test that reads
# the real date instead of an injected clock fails today, not weeks later when its fixtures have aged.
# `make test TEST_CLOCK_SHIFT=0` runs it on the real clock; any other number of days must pass too.
TEST_CLOCK_SHIFT ?= 400
# One pytest worker per core (pytest-xdist); `make test TEST_WORKERS=0` runs the suite in one process.
TEST_WORKERS ?= auto
test: venv system-packages typecheck
	$(BIN)/pytest --clock-shift $(TEST_CLOCK_SHIFT) -n $(TEST_WORKERS) --dist worksteal

# The documentation site from docs/ (and README.md as its first page) into site/: strict, so a broken link,
# a missing anchor or a page left out of mkdocs.yml's nav fails it; offline (no web fonts, no inventories).
docs: venv
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict --quiet --site-dir site

# Rewrite tests/golden/ from the sample issue; review the diff before committing.
golden: venv
	$(BIN)/pytest tests/render/test_golden.py --regen-golden

# The README's screenshots: the archive page, a test copy and the desk's pages (Chromium, 127.0.0.1 only).
screenshots: venv system-packages
	$(BIN)/python docs/screenshots.py
	$(BIN)/pytest tests/desk/test_browser.py -q -p no:cacheprovider --artifacts docs

# Gather the words of pages, mails and alerts into newsletter/translations/messages.pot, merge them into
# each language's messages.po (English is filled from the msgids; translate the empty French ones), and
# compile the .mo files the package loads (committed; tests/test_i18n.py fails when one is out of date).
TRANSLATIONS := newsletter/translations
messages: venv
	$(BIN)/pybabel extract -F babel.cfg -k N_ -k Count:1,2 --add-comments=Translators: --sort-by-file --no-wrap \
	  --project=newsletter -o $(TRANSLATIONS)/messages.pot .
	$(BIN)/pybabel update -i $(TRANSLATIONS)/messages.pot -d $(TRANSLATIONS) --no-wrap --no-fuzzy-matching --ignore-obsolete
	$(BIN)/python -c 'from newsletter.core.i18n import fill_english; fill_english()'
	$(BIN)/pybabel compile -d $(TRANSLATIONS) --statistics

bench: venv
	bash bench/setup.sh
	$(BIN)/python bench/render.py
	$(BIN)/python bench/send.py
	$(BIN)/python bench/scale.py
	$(BIN)/python bench/clicks.py

clean:
	rm -rf $(VENV) out state site test-artifacts .pytest_cache .mypy_cache
