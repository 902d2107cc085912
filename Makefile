# Gridpod: every workflow is one target; each installs what it needs into .venv on first use.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed
# Two workers, one test file each at a time (a file's virtual boards are shared by its tests):
# the suite takes about 7.5 min on 2 cores, 15 min in one process. PYTEST_ARGS= runs it serially.
PYTEST_ARGS ?= -n 2 --dist loadfile

.PHONY: setup test fat bench mutate lint typecheck compile vboard mp-tests clean help browser ser2net

help:
	@echo "make setup      install everything into $(VENV)"
	@echo "make test       lint, typecheck, compile, then all tests (what CI runs)"
	@echo "make fat        factory acceptance run on a virtual module -> reports/fat/"
	@echo "make bench      performance figures of the virtual board and firmware"
	@echo "make mutate     apply each curated safety mutant and show the test that kills it"
	@echo "make lint       ruff check + format check"
	@echo "make typecheck  firmware against the esp32 and rp2 stubs"
	@echo "make compile    mpy-cross every firmware file for xtensawin and armv6m"
	@echo "make vboard     run the full virtual module (training load) until Ctrl-C"
	@echo "make mp-tests MP=<dir>  MicroPython's own tests on the virtual board and the unix port"

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip
	$(PY) -m pip install --quiet -e '.[dev]'
	@$(MAKE) --no-print-directory browser
	@$(MAKE) --no-print-directory ser2net
	touch $(STAMP)

# Headless Chromium renders the FAT certificate in a test; installed when we may (root + apt).
browser:
	@command -v chromium-headless-shell >/dev/null || command -v chromium >/dev/null \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && (apt-get update -qq && apt-get install -y -qq chromium-headless-shell >/dev/null) ; } \
	  || echo "note: no headless Chromium; the certificate render test will be skipped"

# ser2net serves a virtual module's ports to labgrid (python -m gridpod.labgrid.vbench, the
# labgrid bench test); installed when we may. Debian enables its system service on install: we
# start our own instances, so a service we just installed is disabled again.
ser2net:
	@command -v ser2net >/dev/null || [ -x /usr/sbin/ser2net ] \
	  || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null \
	       && (apt-get update -qq && apt-get install -y -qq ser2net >/dev/null) \
	       && { ! command -v systemctl >/dev/null || systemctl disable --now ser2net >/dev/null 2>&1 || true ; } ; } \
	  || echo "note: no ser2net; vbench forwards its ports in Python, the labgrid bench test is skipped"

setup: $(STAMP)

test: $(STAMP) lint typecheck compile
	$(PY) -m pytest $(PYTEST_ARGS)

fat: $(STAMP)
	$(VENV)/bin/gridpod fat --virtual --report reports/fat

bench: $(STAMP)
	$(PY) -m gridpod.perf.run
	$(PY) -m gridpod.perf.modbus
	$(PY) -m gridpod.perf.deploy
	$(PY) -m gridpod.perf.control
	$(PY) -m gridpod.perf.tasks
	$(PY) -m gridpod.perf.chip
	$(PY) -m gridpod.perf.service
	$(PY) -m gridpod.perf.heap
	$(PY) -m gridpod.perf.fat
	$(PY) -m gridpod.hil.soak --close-at 30

mutate: $(STAMP)
	$(PY) -m gridpod.hil.mutate

lint: $(STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .
	$(PY) -m gridpod.boards check

typecheck: $(STAMP)
	$(PY) -m gridpod.build.checks typecheck

compile: $(STAMP)
	$(PY) -m gridpod.build.checks compile

# The full module (cooling, battery, grid) on the VIRTUAL board, firmware installed in the ROMFS
# layout, plant model under the training load, monitors on; ports, control socket and trace in
# build/ (it prints where to connect). host_tools/tests/test_vboard_module_cli.py runs this line.
vboard: $(STAMP)
	$(VENV)/bin/gridpod vboard --flash build/vboard-module.img --install-firmware --romfs \
	  --full-module --profile training --monitors --trace build/vboard-trace.csv \
	  --link-console build/vboard-console --link-modbus build/vboard-rs485 --control build/vboard.ctl

# MicroPython's tests/run-tests.py against the virtual board beside the unix port (minutes; not
# part of make test). MP: a MicroPython source folder (tests/, tools/, extmod/ and
# lib/micropython-lib/python-stdlib/unittest): README "MicroPython's test suite on the virtual board".
MP ?=
mp-tests:
	@test -n "$(MP)" || { echo "usage: make mp-tests MP=<MicroPython source folder>"; exit 2; }
	@$(MAKE) --no-print-directory setup
	$(PY) -m gridpod.perf.mp_tests --micropython $(MP)

clean:
	rm -rf build reports .pytest_cache
