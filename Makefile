# Two commands for a fresh machine:  `make run` (set up + the daily pipeline) and `make test`.
VENV ?= .venv
export HF_HUB_OFFLINE = 1
export TRANSFORMERS_OFFLINE = 1
export ANONYMIZED_TELEMETRY = False

.PHONY: run test setup setup-test

run: setup
	$(VENV)/bin/paperrag daily

test: setup-test
	PAPERRAG_REQUIRE_MODELS=1 $(VENV)/bin/python -m pytest -q

setup:
	scripts/setup.sh

setup-test:
	scripts/setup.sh --test
