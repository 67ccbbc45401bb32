# One-command set-up: every target installs what it needs first.
VENV    := .venv
PY      := $(VENV)/bin/python
STAMP   := $(VENV)/.installed
GMP     := .cache/gmp
KAFKA   := scripts/kafka
BROKERS := guest host host2

.PHONY: install dashboard chromium helm class-archive images netns-tools lint test faults demo kafka-up kafka-down bench clean

install: $(STAMP) dashboard

$(STAMP): pyproject.toml setup.py scripts/gmp airflow_provider_powerfl/crypto/_multiexp.c airflow_provider_powerfl/crypto/_fixedbase.c airflow_provider_powerfl/crypto/_powmod.c airflow_provider_powerfl/crypto/_montgomery.h
	@# the crypto extensions' GMP, static and configured for this CPU: Debian's fat libgmp gives some CPUs a slow
	@# REDC (1.3-1.4x on every product here)
	scripts/gmp $(GMP)
	test -x $(PY) || python3 -m venv $(VENV)
	$(PY) -m pip install -q --upgrade pip uv
	@# bytecode now: uv writes none, and with PYTHONDONTWRITEBYTECODE set every process would compile numpy, pandas,
	@# pyspark's and Airflow's modules again (pandas alone: 2.6 s to import without, 1.0 s with)
	POWERFL_GMP=$(CURDIR)/$(GMP) $(VENV)/bin/uv pip install -q --compile-bytecode --python $(PY) -e '.[test]'
	touch $(STAMP)

# The task dashboard (dashboard/: React + ECharts from npm's lock file), built into the provider package
# (plugins/dashboard_dist/, in the wheel); npm ci only when the lock changed, the build only when a source did.
DASHBOARD := airflow_provider_powerfl/plugins/dashboard_dist/index.html
dashboard: $(DASHBOARD)

dashboard/node_modules/.package-lock.json: dashboard/package.json dashboard/package-lock.json
	cd dashboard && npm ci --no-audit --no-fund

$(DASHBOARD): dashboard/node_modules/.package-lock.json dashboard/index.html dashboard/vite.config.ts dashboard/tsconfig.json $(shell find dashboard/src -type f)
	cd dashboard && npm run build

# Debian's Chromium for the dashboard's browser tests (tests/browser: Playwright drives it by its path, as
# Playwright's own browser download is unreachable); a no-op when it is installed.
chromium:
	command -v chromium >/dev/null || { apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium; }

# helm for the chart tests and deploy.sh (tests/chart): scripts/helm builds its pinned version from the Go module
# proxy into .cache/bin once (a few minutes cold); a no-op when it is there.
helm:
	scripts/helm

# ip and nft for tests/faults (parties in their own network namespaces, tests/support/netns.py); no-op when there.
netns-tools:
	command -v ip >/dev/null && command -v nft >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends iproute2 nftables; }

# PowerFL's images (docs/runtime_image.md) on the project's own Docker engine: Debian's docker.io and debootstrap
# installed when missing, the engine started (scripts/docker), both images built; seconds when they are up to date.
images: install
	command -v dockerd >/dev/null && command -v debootstrap >/dev/null || { apt-get update -q && \
		DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends docker.io debootstrap; }
	scripts/docker up
	docker/build

# The class archive local Spark steps' driver JVMs map (runtimes/class_archive.py): dumped once per
# JDK and Spark install, ~1 min; a no-op when it is there.
class-archive: install
	$(VENV)/bin/powerfl spark-class-archive

# Style, lint, the layer contracts (docs/design/contracts.md) and the size limits (issue 19), in seconds.
lint: install
	$(VENV)/bin/ruff check
	$(VENV)/bin/ruff format --check
	$(VENV)/bin/lint-imports
	$(PY) scripts/check-size

# The checks, then starts the brokers the tests need, runs the whole suite (its wall time is the last line),
# stops what it started. The whole suite runs as two sessions at once (scripts/pytest-split: the unit suite
# beside the integration suite); PYTEST_ARGS runs one session with those arguments instead.
test: install lint class-archive chromium helm images netns-tools
	$(KAFKA) up $(BROKERS)
	status=0; if [ -n "$(PYTEST_ARGS)" ]; then $(VENV)/bin/pytest $(PYTEST_ARGS) || status=$$?; \
		else scripts/pytest-split || status=$$?; fi; $(KAFKA) down $(BROKERS); exit $$status

# The fault tests (tests/faults, docs/reliability.md): two parties in their own network namespaces, links cut,
# brokers killed, a job stopped; ~15 min, so apart from `make test`'s budget. Root only (ip netns, nft).
faults: install class-archive netns-tools
	$(VENV)/bin/pytest -m faults tests/faults $(PYTEST_ARGS)

# The two-party demo from this checkout's demo/ (not in the wheel); it dumps the class archive itself, its
# JVM, Spark and Airflow output going to log files under .run/.
demo: install
	$(PY) -m demo

kafka-up: install
	$(KAFKA) up guest host

kafka-down:
	$(KAFKA) down $(BROKERS)

clean: kafka-down
	scripts/docker down
	rm -rf .run .cache $(VENV)
