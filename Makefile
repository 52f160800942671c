# Classroom Hub. `make run` serves the bundled models; `make test` installs what tests need and runs them.
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
HOST ?= 0.0.0.0
PORT ?= 8080

.PHONY: help install install-dev system-deps run test screenshots test-arm bench bench-servers bench-peers bench-deploy models models-coral wheelhouse install-pi clean

help:
	@echo "make run      create $(VENV), install the hub, serve the bundled models on port $(PORT)"
	@echo "make test     install the hub, test tools and TensorFlow into $(VENV), run pytest"
	@echo "make screenshots  the browser tests, keeping each page at each size in docs/screenshots/"
	@echo "make test-arm the hub on the Pi's own CPUs, emulated: arm64 from the wheelhouse, the 32-bit refusal (root)"
	@echo "make install  create $(VENV) and install the hub only (what a Pi needs)"
	@echo "make bench    run the serving, classroom, start-up and abuse benchmarks (bench/serve.py, classroom.py, startup.py, abuse.py)"
	@echo "make bench-servers  measure web-server candidates for the hub (bench/servers.py; ASGI ones need uvicorn and a2wsgi)"
	@echo "make bench-peers  the hub side by side with MLServer (bench/peers.py; MLServer in its own venv, Debian's wrk)"
	@echo "make bench-deploy  time install, reboot, kill -9 and hung-engine recovery on a Bookworm VM (root)"
	@echo "make models   rebuild models/digits and models/spoken-digits with classroom-quantize (needs the quantize extra)"
	@echo "make models-coral  copy Coral's ImageNet and MoveNet models from ../shared/coral into models/ (docs/MODELS.md)"
	@echo "make wheelhouse  every wheel for a Pi (aarch64, Python 3.11) in wheelhouse/, for an offline install"
	@echo "make install-pi  install on this Raspberry Pi as services (sudo; see docs/INSTALL.md)"

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip setuptools wheel

# Stamps: reinstall only when the package metadata changes.
$(VENV)/.hub-installed: $(BIN)/python setup.cfg pyproject.toml
	$(BIN)/pip install --quiet -e .
	touch $@

$(VENV)/.dev-installed: $(VENV)/.hub-installed setup.cfg
	$(BIN)/pip install --quiet -e '.[dev,quantize]'
	touch $@

install: $(VENV)/.hub-installed

install-dev: system-deps $(VENV)/.dev-installed

system-deps:
	@sh scripts/system-deps.sh

run: install
	$(BIN)/classroom-hub serve --host $(HOST) --port $(PORT) --models models

# axe-core for the accessibility checks, from the npm registry, pinned; the tests find it through
# CLASSROOM_HUB_AXE (tests/test_browser.py `axe_script`). Without npm they fall back to the copy the
# axe-playwright-python wheel ships.
AXE_VERSION ?= 4.14.1
AXE_JS := .cache/axe-core-$(AXE_VERSION)/node_modules/axe-core/axe.min.js
$(AXE_JS):
	@if command -v npm >/dev/null 2>&1; then \
	  npm install --silent --no-audit --no-fund --no-save --prefix .cache/axe-core-$(AXE_VERSION) axe-core@$(AXE_VERSION); \
	else echo "note: npm is missing (apt install npm): the tests use the axe-core the axe-playwright-python wheel ships"; fi

AXE_ENV = CLASSROOM_HUB_AXE=$$( [ -f $(AXE_JS) ] && echo $(abspath $(AXE_JS)) )

test: install-dev $(AXE_JS)
	$(AXE_ENV) $(BIN)/python -m pytest -m "not emulated"

# The browser tests again, keeping their screenshots of each page at each size in docs/screenshots/.
screenshots: install-dev $(AXE_JS)
	$(AXE_ENV) CLASSROOM_HUB_SCREENSHOTS=$(abspath docs/screenshots) $(BIN)/python -m pytest \
	  tests/test_browser.py tests/test_browser_pupil.py tests/test_browser_dashboard.py tests/test_browser_teach.py \
	  tests/test_browser_sizes.py tests/test_setup_tablets.py

# The Pi's own architectures under qemu-user (tests/test_arm64.py, tests/test_armhf.py); CI runs it after `make test`.
test-arm: install-dev
	@sh scripts/system-deps.sh --arm
	$(BIN)/python -m pytest -m emulated tests/test_arm64.py tests/test_armhf.py

bench: install-dev
	$(BIN)/python bench/serve.py
	$(BIN)/python bench/classroom.py
	$(BIN)/python bench/startup.py
	$(BIN)/python bench/abuse.py

bench-servers: install-dev
	$(BIN)/python bench/servers.py

# wrk from Debian, installed here when missing (as root, or with sudo -n); MLServer gets a venv of its own.
bench-peers: install-dev
	@command -v wrk >/dev/null 2>&1 || { if [ "$$(id -u)" = 0 ]; then SUDO=; else SUDO="sudo -n"; fi; \
	  echo "installing Debian's wrk"; $$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null 2>&1 || \
	  { $$SUDO apt-get update -qq >/dev/null && $$SUDO apt-get install -y -qq --no-install-recommends wrk >/dev/null; } || \
	  { echo "could not install wrk: apt-get install wrk, then make bench-peers"; exit 1; }; }
	$(BIN)/python bench/peers.py

bench-deploy: install-dev
	$(BIN)/python bench/deploy.py

ARCH ?= aarch64
wheelhouse: $(BIN)/python
	PIP=$(BIN)/pip sh scripts/wheelhouse.sh $(ARCH) wheelhouse

install-pi:
	sudo sh scripts/install-pi.sh

models: install-dev
	$(BIN)/classroom-quantize build digits --out models
	$(BIN)/classroom-quantize build spoken-digits --out models

models-coral: install
	$(BIN)/python scripts/bundle_coral.py --coral ../shared/coral --out models

clean:
	rm -rf $(VENV) build *.egg-info .pytest_cache test-artifacts
	find . -name __pycache__ -type d -prune -exec rm -rf {} +
