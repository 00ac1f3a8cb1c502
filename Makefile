# The two commands a new user needs: `make run` and `make test`.
# Everything else here is for developers and CI.

PYTHON ?= python3
UV_VERSION := 0.13.9
TOOLS := .tools
UV := $(shell command -v uv 2>/dev/null || echo $(TOOLS)/bin/uv)
RUN := UV_PYTHON_DOWNLOADS=never $(UV) run --locked --no-sync
FLASK := $(RUN) flask --app wsgi
PYTEST_WORKERS ?= 2
AXE_VERSION := 4.14.1

.PHONY: screenshots run test sync lint format typecheck openapi vendor bench bench-search bench-cycle bench-worker bench-contention bench-search-scale bench-hsds bench-audit bench-load bench-pages translations clean help

help:
	@echo "make run    - install, migrate, seed demo data and serve on http://127.0.0.1:5000"
	@echo "make test   - the whole test suite (SQLite; set TEST_DATABASE_URL/REDIS_URL for PostgreSQL/Redis)"
	@echo "make lint   - ruff, format check and mypy"
	@echo "make translations - collect the pages' strings into messages.pot and each language's .po"

$(TOOLS)/bin/uv:
	@echo "installing uv $(UV_VERSION) into $(TOOLS)/ (once)…"
	@$(PYTHON) -m venv $(TOOLS)
	@$(TOOLS)/bin/python -m pip install --quiet --disable-pip-version-check "uv==$(UV_VERSION)"

# --compile-bytecode: the libraries' .pyc files are written once here, so a machine that
# sets PYTHONDONTWRITEBYTECODE does not compile some 800 modules from source in every
# process (every test worker, gunicorn, each `flask` command)
.venv/.synced: uv.lock pyproject.toml Makefile | $(UV)
	@echo "installing the locked dependencies into .venv/…"
	@UV_PYTHON_DOWNLOADS=never $(UV) sync --locked --quiet --compile-bytecode
	@touch $@

sync: .venv/.synced

run: sync
	@echo "migrating the database (instance/)…"
	@REFERRAL_HUB_LOG_LEVEL=WARNING $(FLASK) db upgrade
	@echo "seeding the demo network…"
	@$(FLASK) hub seed-demo
	@echo "starting…"
	@$(FLASK) hub serve --host 127.0.0.1 --port 5000

# --dist worksteal: a worker that runs out of tests takes half of the other's queue, so a
# slow stretch (the hostile-input corpus, the browser journeys) does not leave a core idle
# at the end. The hub's and the tests' own bytecode (assertion-rewritten modules included)
# is written to their __pycache__/ (ignored by git) even where PYTHONDONTWRITEBYTECODE is
# set: each worker otherwise compiles them from source on every run
test: sync
	env -u PYTHONDONTWRITEBYTECODE $(RUN) pytest -n $(PYTEST_WORKERS) --dist worksteal $(PYTEST_ARGS)

lint: sync
	$(RUN) ruff check .
	$(RUN) ruff format --check .
	$(RUN) mypy
	$(RUN) lint-imports

format: sync
	$(RUN) ruff check --fix .
	$(RUN) ruff format .

# the strings marked for translation (babel.cfg) into messages.pot, then merged into every
# language's catalogue (created for a language newly in i18n.SUPPORTED); new or changed
# strings come out empty or fuzzy, and tests/web/test_i18n.py fails until they are translated
I18N := referral_hub/translations
translations: sync
	$(RUN) pybabel -q extract -F babel.cfg -c TRANSLATORS: --project=referral-hub \
		--sort-by-file -o $(I18N)/messages.pot referral_hub
	@for lang in $$($(RUN) python -c "from referral_hub.web import i18n; print(*(l for l in i18n.SUPPORTED if l != i18n.SOURCE))"); do \
		if [ -f $(I18N)/$$lang/LC_MESSAGES/messages.po ]; then cmd=update; else cmd=init; fi; \
		echo "pybabel $$cmd $$lang"; \
		$(RUN) pybabel -q $$cmd -i $(I18N)/messages.pot -d $(I18N) -l $$lang || exit 1; \
	done

# the browser journeys again, keeping full-page pictures of every page they check at 1280 and
# 390 px (tests/artifacts/), then the README's: the first screenful of the main screens
screenshots: sync
	rm -rf tests/artifacts/readme
	env -u PYTHONDONTWRITEBYTECODE HUB_SCREENSHOTS=1 $(RUN) pytest -n $(PYTEST_WORKERS) -q tests/browser
	@test -d tests/artifacts/readme || { echo "the journeys left no README pictures"; exit 1; }
	mkdir -p docs/screenshots
	cp tests/artifacts/readme/*.png docs/screenshots/
	@ls -l docs/screenshots

openapi: sync
	$(FLASK) openapi write --format=json docs/openapi.json
	@echo "docs/openapi.json written"

# the whole benchmark suite on PostgreSQL + Redis: one table of figures and same-run
# baselines, written to bench/results.json (BENCH_ARGS=--short: a quick correctness run)
bench: sync
	$(RUN) python bench/all.py $(BENCH_ARGS)

# one benchmark at a time
bench-search: sync
	$(RUN) python bench/search.py $(BENCH_ARGS)

bench-contention: sync
	$(RUN) python bench/contention.py $(BENCH_ARGS)

# search SQL at 10,000 and 50,000 services and after 1,000,000 capacity updates
bench-search-scale: sync
	$(RUN) python bench/search_scale.py $(BENCH_ARGS)

bench-hsds: sync
	$(RUN) python bench/hsds_validate.py $(BENCH_ARGS)

bench-load: sync
	$(RUN) python bench/load.py $(BENCH_ARGS)

bench-audit: sync
	$(RUN) python bench/audit.py $(BENCH_ARGS)

# referral cycle benchmark (create, send, accept, arrive) with webhook latency
bench-cycle: sync
	$(RUN) python bench/cycle.py $(BENCH_ARGS)

# CPU per delivered webhook (worker, PostgreSQL, Redis) and commit -> webhook latency: the
# hub's worker beside one rq job per row (SimpleWorker and the forking Worker)
bench-worker: sync
	$(RUN) python bench/worker.py $(BENCH_ARGS)

# staff pages' server time and asset weight with the demo data (SQLite; BENCH_DATABASE_URL
# for PostgreSQL): each demo user's pages against a bare Flask + Jinja baseline
bench-pages: sync
	$(RUN) python bench/pages.py $(BENCH_ARGS)

# developers only (needs npm): refresh the vendored front-end files from package.json pins
vendor:
	rm -rf .vendor-tmp && mkdir .vendor-tmp
	cd .vendor-tmp && npm pack --silent swagger-ui-dist@5.35.0 htmx.org@2.0.11 @picocss/pico@2.1.1 axe-core@$(AXE_VERSION) >/dev/null
	cd .vendor-tmp && for f in *.tgz; do mkdir -p "$${f%.tgz}" && tar -xzf "$$f" -C "$${f%.tgz}"; done
	mkdir -p referral_hub/web/static/vendor
	cp .vendor-tmp/htmx.org-2.0.11/package/dist/htmx.min.js referral_hub/web/static/vendor/htmx-2.0.11.min.js
	cp .vendor-tmp/picocss-pico-2.1.1/package/css/pico.min.css referral_hub/web/static/vendor/pico-2.1.1.min.css
	cp .vendor-tmp/swagger-ui-dist-5.35.0/package/swagger-ui-bundle.js referral_hub/web/static/vendor/swagger-ui-bundle-5.35.0.js
	cp .vendor-tmp/swagger-ui-dist-5.35.0/package/swagger-ui.css referral_hub/web/static/vendor/swagger-ui-5.35.0.css
	$(PYTHON) -c "import hashlib,base64,pathlib; d=pathlib.Path('referral_hub/web/static/vendor'); \
	lines=['# Vendored front-end files','','Copied by \`make vendor\` from the npm packages pinned in package.json. Do not edit.','','| file | package | sha384 |','|---|---|---|']; \
	src={'htmx':'htmx.org@2.0.11','pico':'@picocss/pico@2.1.1','swagger':'swagger-ui-dist@5.35.0'}; \
	[lines.append('| %s | %s | sha384-%s |' % (p.name, next(v for k,v in src.items() if p.name.startswith(k)), base64.b64encode(hashlib.sha384(p.read_bytes()).digest()).decode())) for p in sorted(d.iterdir()) if p.suffix in ('.js','.css')]; \
	(d/'VENDOR.md').write_text('\n'.join(lines)+'\n')"
	# a TEST asset (the browser tests inject it into each page); the app never serves it
	mkdir -p tests/browser/vendor
	rm -f tests/browser/vendor/axe-*.min.js
	cp .vendor-tmp/axe-core-$(AXE_VERSION)/package/axe.min.js tests/browser/vendor/axe-$(AXE_VERSION).min.js
	$(PYTHON) -c "import hashlib,base64,pathlib; p=pathlib.Path('tests/browser/vendor/axe-$(AXE_VERSION).min.js'); \
	lines=['# Vendored test assets','','Copied by \`make vendor\` from the npm package pinned in package.json. Do not edit.','Used only by tests/browser (injected into pages under test); the hub never serves it.','','| file | package | sha384 |','|---|---|---|','| %s | axe-core@$(AXE_VERSION) | sha384-%s |' % (p.name, base64.b64encode(hashlib.sha384(p.read_bytes()).digest()).decode())]; \
	(p.parent/'VENDOR.md').write_text('\n'.join(lines)+'\n')"
	rm -rf .vendor-tmp

clean:
	rm -rf .venv $(TOOLS) .pytest_cache .mypy_cache .ruff_cache
