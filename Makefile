# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
TEST_WORKERS ?= 2

.PHONY: demo test test-fast bench clean docs browser

$(STAMP): pyproject.toml constraints.txt
	test -d $(VENV) || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade "pip>=24"
	$(BIN)/pip install --quiet -c constraints.txt -e .
	touch $(STAMP)

$(TEST_STAMP): $(STAMP)
	$(BIN)/pip install --quiet -c constraints.txt -e ".[spark,test]"
	touch $(TEST_STAMP)

demo: $(STAMP)
	$(BIN)/flywheel demo --out demo-output

test: $(TEST_STAMP) browser
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# The console's browser tests drive Debian's Chromium (never a downloaded build); CJK fonts for the
# Chinese pages. Installed when missing and this is root on Debian; otherwise the tests say why they skip.
browser:
	@if ! command -v chromium >/dev/null 2>&1 || ! dpkg -s fonts-noto-cjk >/dev/null 2>&1; then \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then \
	    echo "installing chromium and fonts-noto-cjk for the console's browser tests"; \
	    (DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null 2>&1 || \
	     (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium fonts-noto-cjk >/dev/null)); \
	  else \
	    echo "WARNING: chromium is missing and cannot be installed here: the console's browser tests will be skipped" >&2; \
	  fi; \
	fi

# For iteration: everything but the slow and Spark tests (make test stays the full suite).
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not spark"

bench: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py

docs: $(STAMP)
	$(BIN)/python -m flywheel.schema.docs > docs/data-model.md

clean:
	rm -rf $(VENV) demo-output
