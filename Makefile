# `make demo`: install what is missing, build a demo from DATA and sort it.
# `make test`: install what is missing, check the lint, the layers and the types, and run
# the tests.
DATA ?= ../shared/data/faces
OUT ?= demo
PY := .venv/bin/python

.PHONY: demo test bootstrap clean

bootstrap:
	@scripts/bootstrap

demo: bootstrap
	$(PY) scripts/demo.py --data "$(DATA)" --out "$(OUT)"

test:
	@scripts/bootstrap --test
	.venv/bin/ruff check facewatchd tests scripts
	.venv/bin/lint-imports
	.venv/bin/mypy
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf demo .pytest_cache
