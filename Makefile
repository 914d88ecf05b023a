# `make demo`: install what is missing, build a demo from DATA and sort it.
# `make test`: install what is missing and run the tests.
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
	$(PY) -m pytest $(PYTEST_ARGS)

clean:
	rm -rf demo .pytest_cache
