# Beacon: two commands do everything on a fresh machine.
#   make run   - virtualenv, build, start the demo
#   make test  - virtualenv, build, the whole test suite
# The interpreter for .venv: Debian's own python3.11 when the machine has it with venv and the
# headers (a static, profile-guided and link-time optimised build: 12-14 % less CPU per order
# than a shared, unoptimised build such as pyenv's default; docs/benchmarks.md), otherwise
# python3. `make PYTHON=...` picks another; `make clean` first to change an existing .venv.
SYSTEM_PY := /usr/bin/python3.11
PYTHON ?= $(shell $(SYSTEM_PY) -c 'import ensurepip, os, sysconfig, venv; \
	raise SystemExit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' 2>/dev/null \
	&& echo $(SYSTEM_PY) || echo python3)
VENV   := .venv
PY     := $(VENV)/bin/python
STAMP  := $(VENV)/.installed

.PHONY: run test bench bench-check bench-baseline build clean

$(PY):
	$(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet --upgrade pip

# Reinstall (and rebuild the extensions) whenever the packaging or a Cython source changes.
# A module compiled from its .py source with an augmenting .pxd counts as a Cython source too.
AUGMENTED := $(filter-out core/_engine.pxd,$(wildcard core/*.pxd gateway/*.pxd gateway/*/*.pxd simulators/*/*.pxd))
$(STAMP): $(PY) pyproject.toml setup.py $(wildcard core/*.pyx core/*.pxd gateway/*/*.pyx simulators/*/*.pyx) \
		$(AUGMENTED) $(wildcard $(AUGMENTED:.pxd=.py))
	rm -f $(AUGMENTED:.pxd=.c)  # generated again with the directives setup.py sets for them
	$(PY) -m pip install --quiet -e '.[test,peers,bench]'
	@touch $(STAMP)

build: $(STAMP)

run: build
	$(PY) -m gateway

test: build
	$(PY) -m pytest -q
	# the websocket API again, every test on the picows order port instead of aiohttp's /ws
	BEACON_TEST_WS=order $(PY) -m pytest -q tests/gateway --ignore=tests/gateway/fix \
		--ignore=tests/gateway/journal

bench: build
	$(PY) -m pytest bench -q --benchmark-only --benchmark-columns=min,median,mean,iqr,max,rounds \
		--benchmark-autosave --benchmark-save-data --benchmark-storage=file://bench/results
	$(PY) -m bench.report
	$(PY) -m bench.instructions --by-object
	$(PY) -m bench.order_floor --beside-path
	$(PY) -m bench.growth
	$(PY) -m bench.loadgen
# where the round trip goes at 10,000/s, and what the server's CPU ran while the slowest orders
# waited (the scheduler part where perf may record; docs/benchmarks.md)
	$(PY) -m bench.loadgen.trace --rate 10000 --count 30000 --sched --profile

# The regression gate: a fresh run of the micro-benchmarks against bench/baseline.json
# (normalised by a calibration benchmark; tolerance from the baseline runs' own noise), and the
# order path's instructions per order (callgrind; needs valgrind).
bench-check: build
	$(PY) -m bench.check

bench-baseline: build
	$(PY) -m bench.check --baseline --runs 3

clean:
	rm -rf $(VENV) build *.egg-info core/*.cpp core/*.c core/*.so gateway/*.c gateway/*.so gateway/*/*.c gateway/*/*.so simulators/*/*.c simulators/*/*.so .pytest_cache
