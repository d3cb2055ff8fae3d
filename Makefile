# The two README commands: `make demo` (whole pipeline on the embedded default) and `make test`.
# Each installs what it needs into ./.venv on first use (and again when pyproject.toml changes).

PYTHON ?= python3
VENV := .venv
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
DEMO_ARGS ?=
PYTEST_ARGS ?=
BENCH_ARGS ?=
# make test runs the tests side by side in this many processes (pytest-xdist; docs/testing.md)
TEST_WORKERS ?= 3

.PHONY: demo test unit integration integration-apache-kafka bench venv clean

venv: $(STAMP)

$(STAMP): pyproject.toml
	@test -x $(VENV)/bin/python || $(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install --quiet --upgrade pip
	$(VENV)/bin/pip install --quiet -e '.[test,bench]'
	@rm -f $(VENV)/.installed-* && touch $@

demo: venv  ## embedded broker + worker + simulator + live board; e.g. make demo DEMO_ARGS="--duration 60"
	$(VENV)/bin/cxpulse demo $(DEMO_ARGS)

test: venv  ## unit, property and integration tests (embedded broker unless CXPULSE_KAFKA_BOOTSTRAP is set)
	$(VENV)/bin/python -m pytest -n $(TEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

unit: venv
	$(VENV)/bin/python -m pytest -m "not integration" $(PYTEST_ARGS)

integration: venv
	$(VENV)/bin/python -m pytest tests/integration $(PYTEST_ARGS)

integration-apache-kafka: venv  ## the integration suite against a real Apache Kafka (KRaft) broker on loopback
	scripts/with-apache-kafka $(VENV)/bin/python -m pytest tests/integration $(PYTEST_ARGS)

bench: venv  ## the benchmark harness: raw ceilings, naive Faust, the pipeline, live latencies (results/)
	$(VENV)/bin/python benchmarks/harness.py $(BENCH_ARGS)

clean:
	rm -rf $(VENV) .cxpulse .pytest_cache .hypothesis
