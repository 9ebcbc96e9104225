# The two commands a newcomer needs (see README):
#   make run    set up, build the demo cohort + zoo when absent, start the dashboard
#   make test   set up (incl. Debian's chromium for browser tests) and run every test
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
REQ_HASH := $(shell cat requirements.txt requirements-dev.txt | cksum | cut -d' ' -f1)
STAMP  := $(VENV)/.installed-$(REQ_HASH)

.PHONY: run test demo setup browser pdfdeps

$(STAMP): requirements.txt requirements-dev.txt
	@test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	@rm -f $(VENV)/.installed-*
	@touch $@

setup: $(STAMP)

demo: $(STAMP)
	$(BIN)/python -m zoo demo

run: $(STAMP) pdfdeps
	$(BIN)/python -m dashboard

# WeasyPrint (model card and patient report PDFs) needs Pango; the tests also read PDFs with poppler's pdftoppm.
pdfdeps:
	@if ! ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0'; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's Pango for PDF reports..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq libpango-1.0-0 libpangoft2-1.0-0 >/dev/null; \
	  else echo "note: Pango is missing; PDF reports will say so (install: apt-get install libpango-1.0-0 libpangoft2-1.0-0)"; fi; \
	fi

# Browser tests need Debian's chromium (and report tests poppler's pdftoppm); under CI=true they must run, never skip.
browser: pdfdeps
	@if [ ! -x /usr/bin/chromium ] || ! command -v pdftoppm >/dev/null; then \
	  if [ "$$(id -u)" = "0" ] && command -v apt-get >/dev/null; then \
	    echo "Installing Debian's chromium and poppler-utils for the browser and report tests..."; \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null; \
	  elif [ "$$CI" = "true" ]; then \
	    echo "CI=true but /usr/bin/chromium or pdftoppm is missing and cannot be installed (need root + apt-get)"; exit 1; \
	  else echo "note: /usr/bin/chromium missing; browser tests will be skipped (install: apt-get install chromium)"; fi; \
	fi

test: $(STAMP) browser
	$(BIN)/python -m pytest
