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

.PHONY: lab test release grade bench data clean sandbox

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	$(PY) -m pip install --quiet "$(TORCH)"
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks/

test: $(VENV)/.installed sandbox
	$(PY) -m pytest -n $(JOBS) --dist loadfile

# The grader's sandbox (bubblewrap); installed where we may, else the grader
# falls back to a network namespace and the sandbox tests skip.
sandbox:
	@command -v bwrap >/dev/null || { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -q bubblewrap >/dev/null 2>&1 || { apt-get update -q >/dev/null && \
	    apt-get install -y -q bubblewrap >/dev/null; }; }; } || \
	  echo "bubblewrap is not installed: the grader runs without its sandbox (see README)"

release: $(VENV)/.installed
	$(PY) scripts/release.py

grade: $(VENV)/.installed sandbox
	$(PY) -m autograder grade $(SUBMISSIONS) --json $(REPORT) --csv $(REPORT:.json=.csv)

bench: $(VENV)/.installed
	$(PY) -m bench

data: $(VENV)/.installed
	$(PY) data/build_data.py

clean:
	rm -rf $(VENV) .pytest_cache reports
