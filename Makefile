# One virtual environment at .venv; every target builds it first if needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The CPU wheel on this machine; override (e.g. TORCH=torch) elsewhere.
TORCH  ?= torch==2.13.0
# Parallel test workers (variants of the notebooks are graded in parallel).
JOBS   ?= 2
SUBMISSIONS ?= examples/submissions
REPORT ?= reports/grades.json

.PHONY: lab test release grade bench data clean

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks/

test: $(VENV)/.installed
	$(PY) -m pytest -n $(JOBS) --dist loadgroup

release: $(VENV)/.installed
	$(PY) scripts/release.py

grade: $(VENV)/.installed
	$(PY) -m autograder grade $(SUBMISSIONS) --json $(REPORT) --csv $(REPORT:.json=.csv)

bench: $(VENV)/.installed
	$(PY) -m bench

data: $(VENV)/.installed
	$(PY) data/build_data.py

clean:
	rm -rf $(VENV) .pytest_cache reports
