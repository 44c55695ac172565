# One virtual environment at .venv; every target builds it first if needed.
PYTHON ?= python3
VENV   := .venv
PY     := $(VENV)/bin/python
# The PyTorch requirement; scripts/install-torch.sh says where it comes from
# (on Linux, PyTorch's CPU index first; TORCH_INDEX=... chooses another).
TORCH  ?= torch==2.13.0
# Parallel test workers (variants of the notebooks are graded in parallel).
JOBS   ?= 2
# make grade: what to grade, where the report goes (beside it: gradebook.csv,
# canvas.csv and feedback/, one page per student); WORKERS=n (default one per
# core), FRESH=1 to ignore the journal of an earlier run.
SUBMISSIONS ?= examples/submissions
REPORT ?= reports/grades.json

# make student-edition COURSE_URL=https://github.com/you/your-course: the
# folder to publish as the students' repository (or zip).
STUDENT_EDITION ?= dist/student-edition

.PHONY: lab test release student-edition grade bench data clean sandbox browser

$(VENV)/.installed: pyproject.toml
	test -x $(PY) || $(PYTHON) -m venv $(VENV)
	TORCH="$(TORCH)" sh scripts/install-torch.sh $(PY)
	$(PY) -m pip install --quiet -e ".[dev]"
	touch $@

# JupyterLab refuses root unless told (containers, Colab-like machines).
lab: $(VENV)/.installed
	$(VENV)/bin/jupyter lab notebooks/ $$([ "$$(id -u)" = 0 ] && echo --allow-root)

test: $(VENV)/.installed sandbox browser
	$(PY) -m pytest -n $(JOBS) --dist loadfile

# $(call apt_install,PACKAGE,WHAT IS LOST WITHOUT IT): installs a Debian
# package as root where apt-get exists (updating the lists only if needed),
# else says what is lost.
apt_install = { [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null && \
	  { apt-get install -y -q $(1) >/dev/null 2>&1 || { apt-get update -q >/dev/null && \
	    apt-get install -y -q $(1) >/dev/null; }; }; } || \
	  echo "$(1) is not installed: $(2) (see README)"

# The grader's sandbox (bubblewrap); installed where we may. Without it the
# grader refuses to grade unless told a weaker --sandbox mode.
sandbox:
	@command -v bwrap >/dev/null || $(call apt_install,bubblewrap,the grader refuses to grade without --sandbox)

# Headless Chromium for tests/test_browser.py (driven by Playwright); where it
# cannot be installed those tests skip.
browser:
	@test -x /usr/bin/chromium || $(call apt_install,chromium,the browser tests skip)

release: $(VENV)/.installed
	$(PY) scripts/release.py

student-edition: $(VENV)/.installed
	@test -n "$(COURSE_URL)" || { echo "Name the students' repository: make student-edition COURSE_URL=https://github.com/OWNER/NAME"; exit 2; }
	$(PY) scripts/student_edition.py --url "$(COURSE_URL)" --out "$(STUDENT_EDITION)"

grade: $(VENV)/.installed sandbox
	$(PY) -m autograder grade $(SUBMISSIONS) --json $(REPORT) --csv $(REPORT:.json=.csv) \
	  --gradebook $(dir $(REPORT))gradebook.csv --canvas $(dir $(REPORT))canvas.csv --feedback $(dir $(REPORT))feedback \
	  $(if $(WORKERS),--workers $(WORKERS)) $(if $(FRESH),--fresh)

bench: $(VENV)/.installed
	$(PY) -m bench

data: $(VENV)/.installed
	$(PY) data/build_data.py
	$(PY) data/build_folio_pairs.py
	$(PY) data/build_pretraining_data.py

clean:
	rm -rf $(VENV) .pytest_cache reports
