# The two everyday commands: `make run` (the course hub) and `make test` (the suite).
# Both create or refresh the pinned environment in .venv first.

PYTHON ?= python3.11
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
PORT   ?=
MODE   ?=
SCALE  ?= course
# The datasets' shared folder: the hub (hub/settings.yaml data.dir), make data and the tests.
export HEPCOURSE_DATA_DIR ?= $(CURDIR)/.cache/data
# As an activated venv: tools that shell out (nbgrader -> alembic) find the venv's commands.
export PATH := $(CURDIR)/$(BIN):$(PATH)
NOTEBOOKS := $(wildcard modules/*/*.ipynb)

.PHONY: help run test test-browser test-containers test-images test-slurm images postgres test-fast data bench-hub bench-class bench-data bench-grade bench-thresholds bench-gpu bench-modules bench-hub-scale course-check lint strip lock venv clean wipe-dev-state

help:
	@echo "make run        start the course hub (local mode; PORT=8001 MODE=docker to override)"
	@echo "make test       run the whole test suite (starts a real hub, executes every notebook)"
	@echo "make test-fast  unit tests only (no hub, notebooks, sandbox, browser or containers)"
	@echo "make test-browser  every role's paths in Debian's chromium (Playwright)"
	@echo "make test-containers  docker mode against podman with the slim course image"
	@echo "make test-images  the real CPU course image through the hub: every notebook in a student's container"
	@echo "make test-slurm  the slurm mode against a real one-node Slurm cluster (root)"
	@echo "make images     the course images (CPU, CUDA) from the pinned environment"
	@echo "make data       generate the course datasets offline (SCALE=ci|course|full)"
	@echo "make bench-hub  hub start, cold spawn and warm login-to-lab times"
	@echo "make bench-class N=50  a class logging in at once, cold and prestarted, next to the machine's floor (MODE=docker: containers of the course image)"
	@echo "make bench-data dataset generation rates next to bare Pythia"
	@echo "make bench-grade sandboxed parallel autograde vs serial nbgrader, and as root Slurm jobs on a one-node cluster (40 submissions; IMAGE=... adds containers)"
	@echo "make bench-thresholds  graded thresholds vs trivial answers over 10 held-out draws (course scale, about an hour)"
	@echo "make bench-gpu  training-step time CPU vs GPU (modules 04 and 05; skips without CUDA)"
	@echo "make bench-modules  memory, CPU and GPU of each notebook's kernel (SCALE=course; MODULE=04_neural_nets for one)"
	@echo "make bench-hub-scale  the hub alone with 100, 500 and 1000 students logged in"
	@echo "make course-check  every number the course quotes, recomputed at course scale (build/course-check.md)"
	@echo "make lint       ruff"
	@echo "make strip      clear outputs from the course notebooks, set the lectures' slide breaks"
	@echo "make lock       re-resolve requirements.lock and requirements-dev.lock (hashes) from pyproject.toml"
	@echo "make clean      remove build artefacts (.venv, build/, test-artifacts/); never course data"
	@echo "make wipe-dev-state  delete the development hub's state and data (.state, .cache): says what"

# The environment: Python 3.11 venv with exactly the locked packages (hash-checked), then the project.
# Re-run when pyproject.toml or a lock changes; rebuilt if .venv is not Python 3.11.
$(STAMP): pyproject.toml requirements.lock requirements-dev.lock $(wildcard datasets/skhep-testdata/*.root)
	@$(BIN)/python -c 'import sys; sys.exit(sys.version_info[:2] != (3, 11))' 2>/dev/null \
	  || { rm -rf $(VENV) && $(PYTHON) -m venv $(VENV); }
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --progress-bar off --require-hashes --no-deps -r requirements.lock -r requirements-dev.lock
	$(BIN)/python -m pip install --quiet --no-deps --no-build-isolation -e .
	images/testdata.sh $(BIN)/python datasets/skhep-testdata
	@# Sandboxed kernels and the formgrader's account run this venv's interpreter: where Python
	@# itself lies under a private home (pyenv in /root), they may pass through it (o+x: no listing).
	@[ "$$(id -u)" != 0 ] || $(BIN)/python -c 'import os, sys, pathlib; 	  [print(f"letting other accounts pass through {p} to Python") or os.chmod(p, os.stat(p).st_mode | 0o001) 	   for p in pathlib.Path(sys.base_prefix).parents if not os.stat(p).st_mode & 0o001]'
	@touch $@

# The hub's proxy: JupyterHub's reference configurable-http-proxy (Node), pinned by its lock.
PROXY := hub/proxy/node_modules/.bin/configurable-http-proxy
$(PROXY): hub/proxy/package.json hub/proxy/package-lock.json
	cd hub/proxy && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

venv: $(STAMP) $(PROXY)

run: $(STAMP) $(PROXY)
	@$(BIN)/hepcourse hub $(if $(PORT),--port $(PORT)) $(if $(MODE),--mode $(MODE))

# The whole suite, tier by tier, each tier's wall time printed as it ends and all at the end.
test:
	@rm -f build/tier-times
	@tests/timed.sh setup $(MAKE) --no-print-directory venv postgres
	@tests/timed.sh main $(BIN)/python -m pytest -n 2 --dist loadgroup
	@tests/timed.sh browser $(MAKE) --no-print-directory test-browser
	@if [ "$$(id -u)" = 0 ]; then tests/timed.sh containers $(MAKE) --no-print-directory test-containers; \
	 else echo "container tier skipped: it needs root (podman, debootstrap); run make test-containers as root"; fi
	@if [ "$$(id -u)" = 0 ]; then tests/timed.sh images $(MAKE) --no-print-directory test-images; \
	 else echo "course-image tier skipped: it needs root (podman); run make test-images as root"; fi
	@if [ "$$(id -u)" = 0 ]; then tests/timed.sh slurm $(MAKE) --no-print-directory test-slurm; \
	 else echo "slurm tier skipped: it needs root (a Slurm cluster, students' accounts); run make test-slurm as root"; fi
	@tests/timed.sh --summary

# Every role's paths in a real browser: Playwright driving Debian's chromium.
test-browser: $(STAMP) $(PROXY) /usr/bin/chromium
	$(BIN)/python -m pytest -m browser --durations=0 tests/browser

# docker mode against a real engine: podman (installed and configured if missing) serving the
# Docker API, the slim course image built offline from a host-side wheelhouse.
PODMAN_SOCKET := $(CURDIR)/.state/podman/podman.sock
# $(call podman-image,STAGE): podman's API up, the base image, STAGE's wheelhouse, then
# localhost/hepcourse/singleuser-STAGE built quietly (old layers pruned).
define podman-image
	images/podman-setup.sh $(PODMAN_SOCKET)
	images/base.sh
	images/wheelhouse.sh $(1)
	podman build --quiet --target $(1) -t localhost/hepcourse/singleuser-$(1) -f images/Containerfile .
	podman image prune --force >/dev/null
endef
test-containers: $(STAMP) $(PROXY)
	$(call podman-image,test)
	DOCKER_HOST=unix://$(PODMAN_SOCKET) $(BIN)/python -m pytest -m containers tests/containers tests/grading/test_container_grading.py

# The real course image through the hub: the CPU image (its layers cached while the lock does not
# change), docker mode against podman, every course notebook in a student's container.
test-images: $(STAMP) $(PROXY)
	$(call podman-image,cpu)
	DOCKER_HOST=unix://$(PODMAN_SOCKET) $(BIN)/python -m pytest -m images -s tests/images

# The slurm mode against a real one-node Slurm cluster on loopback: Debian's slurm-wlm and munge
# (installed by the test if missing), the node's GPUs stand-in device files.
test-slurm: $(STAMP) $(PROXY)
	$(BIN)/python -m pytest -m slurm tests/slurm tests/grading

# The course images (CPU; CUDA where its wheels can be fetched).
# Each is smoke-tested: the whole course stack imports, and it says where torch computes.
images: $(STAMP)
	images/podman-setup.sh $(PODMAN_SOCKET)
	images/base.sh
	images/wheelhouse.sh cpu
	podman build --target cpu -t localhost/hepcourse/singleuser-cpu -f images/Containerfile .
	images/wheelhouse.sh cuda && podman build --target cuda -t localhost/hepcourse/singleuser-cuda -f images/Containerfile .
	for stage in cpu cuda; do image=localhost/hepcourse/singleuser-$$stage; \
	  podman run --rm --entrypoint python3 $$image -m hepcourse.device || exit 1; \
	  echo "$$image: $$(podman image inspect --format '{{.Size}}' $$image | awk '{printf "%.2f GB", $$1 / 1e9}')"; done

# PostgreSQL's server, for the test of the gradebook on PostgreSQL (Debian's package).
postgres:
	@ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || command -v initdb >/dev/null \
	  || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null; }

# Its -m replaces the one in pyproject's addopts: every tier's marker is named here.
test-fast: $(STAMP)
	$(BIN)/python -m pytest -n 2 -m "not hub and not notebooks and not sandbox and not browser and not containers"

data: $(STAMP)
	$(BIN)/hepcourse data generate --heldout --scale $(SCALE)

bench-data: $(STAMP)
	$(BIN)/python bench/bench_data.py

bench-grade: $(STAMP)
	$(BIN)/python bench/bench_grade.py $(if $(IMAGE),--image $(IMAGE))

bench-modules: $(STAMP)
	$(BIN)/python bench/bench_modules.py --scale $(SCALE) $(MODULE)

bench-hub-scale: $(STAMP) $(PROXY)
	$(BIN)/python bench/bench_hub_scale.py

# Every number the course quotes, recomputed by its notebooks at course scale (not part of make test).
course-check: $(STAMP)
	@start=$$(date +%s); $(BIN)/hepcourse content claims --scale $(SCALE) --out build/course-check.md $(MODULE); \
	  rc=$$?; echo "course-check: $$(( $$(date +%s) - start )) s"; exit $$rc

bench-thresholds: $(STAMP)
	$(BIN)/python bench/bench_thresholds.py $(HOMEWORK)

bench-gpu: $(STAMP)
	$(BIN)/python bench/bench_gpu.py

bench-hub: $(STAMP) $(PROXY) /usr/bin/chromium
	$(BIN)/python bench/bench_hub.py

N ?= 50
bench-class: $(STAMP) $(PROXY)
ifeq ($(MODE),docker)
	$(call podman-image,cpu)
	DOCKER_HOST=unix://$(PODMAN_SOCKET) $(BIN)/python bench/bench_class.py --students $(N) --mode docker
else
	$(BIN)/python bench/bench_class.py --students $(N)
endif

# Debian's browser for Playwright (never a downloaded one).
/usr/bin/chromium:
	apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium

lint: $(STAMP)
	$(BIN)/ruff check src tests bench hub images

strip: $(STAMP)
	$(BIN)/jupyter nbconvert --log-level=WARN --clear-output --inplace $(NOTEBOOKS)
	$(BIN)/hepcourse content slides $(wildcard modules/*/lecture.ipynb)

# Resolve pyproject.toml's dependencies with uv, from pip's own sources (this machine's mirrors and
# wheel folder, as make venv installs), every file's hash pinned: requirements.lock the run time's
# closure (all the course images install), requirements-dev.lock only what the extra dev adds to it.
# A pin already in a lock is kept unless a change in pyproject.toml forces another.
UV := build/lock-venv/bin/uv
LOCK_FROM = $(foreach url,$(shell $(PYTHON) -m pip config get global.extra-index-url 2>/dev/null),--extra-index-url $(url)) \
            $(foreach dir,$(shell $(PYTHON) -m pip config get global.find-links 2>/dev/null),--find-links $(dir))
LOCK_FLAGS = --python build/lock-venv/bin/python --generate-hashes --no-strip-extras --index-strategy unsafe-best-match \
             --excludes requirements-excluded.txt \
             --custom-compile-command 'make lock' --quiet $(LOCK_FROM)
lock:
	rm -rf build/lock-venv && $(PYTHON) -m venv build/lock-venv
	build/lock-venv/bin/python -m pip install --quiet uv==0.13.9
	$(UV) pip compile pyproject.toml $(LOCK_FLAGS) -o requirements.lock
	$(UV) pip compile pyproject.toml --extra dev --constraint requirements.lock $(LOCK_FLAGS) \
	  $$(sed -n 's/^\([A-Za-z0-9._-]*\)[=[].*/--no-emit-package \1/p' requirements.lock) -o requirements-dev.lock
	@# uv lists every package it left out; that list is requirements.lock's own.
	sed -i '/^# The following packages were excluded/,$$d' requirements-dev.lock
	rm -rf build/lock-venv
	@echo "requirements.lock: $$(grep -c '^[A-Za-z]' requirements.lock) packages; requirements-dev.lock: $$(grep -c '^[A-Za-z]' requirements-dev.lock) more"

# Build artefacts only: the environment, images' build context, test output. Never course data.
clean:
	rm -rf $(VENV) build test-artifacts hub/proxy/node_modules

# The development hub's state and data (make run's .state, make data's .cache): says what goes.
wipe-dev-state:
	@echo "Deleting the development state of this checkout:"
	@echo "  .state  hub database, cookie secret, demo passwords, users' homes, nbgrader gradebook,"
	@echo "          exchange (submissions, feedback), uid table, podman socket"
	@echo "  .cache  generated datasets and the held-out grading data (make data makes them again)"
	rm -rf .state .cache
