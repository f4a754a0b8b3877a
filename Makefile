# Two commands do all set-up: `make demo` and `make test`.
PYTHON ?= python3.11
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
TEST_STAMP := $(VENV)/.installed-test
TEST_WORKERS ?= 2

.PHONY: demo test test-fast bench clean docs

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

test: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -n $(TEST_WORKERS) --dist loadgroup

# For iteration: everything but the slow and Spark tests (make test stays the full suite).
test-fast: $(TEST_STAMP)
	$(BIN)/python -m pytest -q -m "not slow and not spark"

bench: $(TEST_STAMP)
	$(BIN)/python bench/ingest.py

docs: $(STAMP)
	$(BIN)/python -m flywheel.schema.docs > docs/data-model.md

clean:
	rm -rf $(VENV) demo-output
