# driftwarden developer commands. `make test` and `make demo` do all their own set-up.
PYTHON ?= python3
VENV := .venv
PY := $(VENV)/bin/python
# Reinstall only when the package metadata changes, so a second run downloads nothing.
STAMP := $(VENV)/.installed-$(shell cksum pyproject.toml | cut -d' ' -f1)
PYTEST_ARGS ?=
PY_DIRS := $(wildcard detectors stream tests bench scripts)

.PHONY: help venv chromium demo test test-unit lint fmt bench kafka-start kafka-stop clean

help:
	@echo "make demo       venv + package, then the end-to-end demo (in-process Kafka, no broker)"
	@echo "make test       venv + package + real Kafka broker + chromium, whole test suite, broker stopped"
	@echo "make test-unit  fast unit suite only (no broker): pytest -m 'not kafka'"
	@echo "make lint       ruff format check, ruff lint, mypy on driftwarden.detectors and driftwarden.stream"
	@echo "make fmt        ruff format + ruff --fix"
	@echo "make bench      quick benchmarks: detector core, decoder, end to end through the real broker"
	@echo "make kafka-start / kafka-stop   the local broker (scripts/kafka.sh)"

venv: $(STAMP)

# The report's browser test looks at the page in Debian's headless Chromium.
SUDO := $(shell [ "$$(id -u)" = 0 ] || echo sudo)
chromium:
	@command -v chromium >/dev/null || command -v chromium-browser >/dev/null || \
		($(SUDO) apt-get update && $(SUDO) apt-get install -y chromium)

$(STAMP): pyproject.toml
	@test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e ".[dev]"
	@rm -f $(VENV)/.installed-*
	@touch $@

demo: $(STAMP)
	$(VENV)/bin/driftwarden demo

test: $(STAMP) chromium
	@scripts/kafka.sh start || exit 1; \
	status=0; $(PY) -m pytest $(PYTEST_ARGS) || status=$$?; \
	scripts/kafka.sh stop; \
	exit $$status

test-unit: $(STAMP) chromium
	$(PY) -m pytest -m "not kafka" $(PYTEST_ARGS)

lint: $(STAMP)
	$(VENV)/bin/ruff format --check $(PY_DIRS)
	$(VENV)/bin/ruff check $(PY_DIRS)
	@# mypy names modules after their folders; the installed names are driftwarden.stream and
	@# driftwarden.detectors (pyproject's package-dir), so it reads them through a mirror.
	@mkdir -p .typecheck/driftwarden
	@ln -sfn ../../stream .typecheck/driftwarden/stream
	@ln -sfn ../../detectors .typecheck/driftwarden/detectors
	MYPYPATH=.typecheck $(VENV)/bin/mypy -p driftwarden.stream -p driftwarden.detectors

fmt: $(STAMP)
	$(VENV)/bin/ruff format $(PY_DIRS)
	$(VENV)/bin/ruff check --fix $(PY_DIRS)

bench: $(STAMP)
	$(PY) bench/detector_core.py --quick
	$(PY) bench/decode.py --quick
	$(PY) bench/alert_quality.py --quick
	$(PY) bench/e2e.py --records 200000 --river-records 20000

kafka-start:
	@scripts/kafka.sh start

kafka-stop:
	@scripts/kafka.sh stop

clean:
	scripts/kafka.sh stop --clean
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .hypothesis
