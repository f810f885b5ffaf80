# homepbx: `make install` sets up everything, `make test` runs every test (lab included).
PYTHON ?= python3
VENV ?= .venv
PYTEST_ARGS ?=

.PHONY: install demo test unit lab-tests bench clean lint-ansible deploy-test

$(VENV)/.installed: pyproject.toml
	./scripts/install-system-packages
	$(PYTHON) -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -e '.[test,deploy,chart]'
	touch $@

install: $(VENV)/.installed  ## system packages, virtualenv, homepbx and its test tools

demo: $(VENV)/.installed  ## the lab demo: a real Asterisk, two agents, a supervisor, a queue (needs root)
	$(VENV)/bin/homepbx quickstart

test: $(VENV)/.installed  ## the whole suite: unit tests, SQLite + PostgreSQL, and the real Asterisk lab
	$(VENV)/bin/pytest $(PYTEST_ARGS)

unit: $(VENV)/.installed  ## fast tests only (no lab)
	$(VENV)/bin/pytest -m "not lab" $(PYTEST_ARGS)

lint-ansible: $(VENV)/.installed  ## ansible-lint on the playbook, offline, production profile
	$(VENV)/bin/ansible-lint --offline --profile production ansible/

deploy-test: $(VENV)/.installed  ## the playbook on a booted Debian sid container (needs root, systemd-nspawn)
	$(VENV)/bin/pytest tests/deploy $(PYTEST_ARGS)

bench: $(VENV)/.installed  ## the benchmarks need their baselines (panoramisk, greenswitch): the bench extra
	$(VENV)/bin/pip install -q -e '.[bench]'
	$(VENV)/bin/python bench/render.py

clean:
	rm -rf $(VENV) .pytest_cache build dist
