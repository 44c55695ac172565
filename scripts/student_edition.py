"""Build the student edition (`make student-edition COURSE_URL=...`).

    python scripts/student_edition.py --url https://github.com/you/your-course [--out dist/student-edition]

Writes a folder an instructor publishes as its own repository (with a fresh
history) or zips for an LMS: the released notebooks (their Colab badges and
set-up cells pointing at `--url`), the support package `lmcourse`, `data/`,
the grader's engine with the public checks only (each exercise's visible
check cell, so that `check_my_work()` and `python -m autograder grade` work
there and say that the instructor's grade runs more), a README for students,
LICENSE and packaging. No solutions, no hidden checks, no references, no
worked submissions, no project tests, no secret: `scan()` refuses the folder
if any is found.
"""
from __future__ import annotations

import argparse
import json
import re
import shutil
import sys
import tomllib
from pathlib import Path

import nbformat

sys.path.insert(0, str(Path(__file__).resolve().parent))
import release  # noqa: E402  (scripts/release.py, beside this file)

REPO = release.REPO
TEMPLATES = Path(__file__).resolve().parent / "student_edition"
# The grader's engine: how a notebook runs in a worker and how rows are made.
# Not its hidden checks (autograder/hidden), references (autograder/reference)
# or the nbgrader plug-in, which are the instructor's.
ENGINE = ("__init__.py", "__main__.py", "classroom.py", "expect.py", "grade.py", "lms.py", "notebook.py",
          "public.py", "registry.py", "report.py", "sandbox.py", "seeds.py", "selfcheck.py", "session.py",
          "wire.py", "worker.py")
COPIED = ("lmcourse", "data", "LICENSE", "scripts/install-torch.sh")
# Templates that go somewhere other than the edition's top folder.
TEMPLATE_PLACES = {"classroom.yml": ".github/workflows/classroom.yml"}
# Never in a student edition (scan() looks for each).
FORBIDDEN_PARTS = {"solutions", "hidden", "reference", "examples", "tests", ".git", "bench"}
FORBIDDEN_NAMES = re.compile(r"^(\.autograder-secret|autograder-secret|\.secret)$")
FORBIDDEN_TEXT = ("BEGIN SOLUTION", "END SOLUTION", "BEGIN HIDDEN TESTS", "END HIDDEN TESTS")


def build(url: str, out: Path) -> Path:
    """Writes the edition to `out` (replacing it) and returns it; ValueError
    when the result would hold anything of the answer key."""
    release.retarget("", release.course_url(), url)  # a GitHub repository's URL, or ValueError
    if out.exists():
        shutil.rmtree(out)
    out.mkdir(parents=True)
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", ".ipynb_checkpoints")
    for name in COPIED:
        source, target = REPO / name, out / name
        target.parent.mkdir(parents=True, exist_ok=True)
        if source.is_dir():
            shutil.copytree(source, target, ignore=ignore)
        else:
            shutil.copy2(source, target)
    (out / "autograder").mkdir()
    for name in ENGINE:
        shutil.copy2(REPO / "autograder" / name, out / "autograder" / name)

    released = release.release_notebooks(release.solution_notebooks(), url)
    (out / "notebooks").mkdir()
    for name, content in released.items():
        (out / "notebooks" / name).write_bytes(content)
    checks = public_checks({name: nbformat.reads(content.decode("utf-8"), as_version=4)
                            for name, content in released.items()})
    (out / "autograder" / "public_checks.json").write_text(json.dumps(checks, indent=1) + "\n")

    (out / "pyproject.toml").write_text(edition_pyproject(url))
    for template in sorted(TEMPLATES.iterdir()):
        text = template.read_text(encoding="utf-8")
        text = text.replace("{COURSE_URL}", url).replace("{COURSE_NAME}", url.rstrip("/").rsplit("/", 1)[1])
        name = template.name.removesuffix(".template")
        target = out / TEMPLATE_PLACES.get(name, name)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    (out / ".gitignore").write_text(".venv/\n__pycache__/\n*.egg-info/\n.ipynb_checkpoints/\nbuild/\n")

    problems = scan(out)
    if problems:
        raise ValueError("the student edition would leak the answer key:\n" + "\n".join(problems))
    return out


def edition_pyproject(url: str) -> str:
    """The root pyproject's package, its dependencies and its `lab` extra,
    without the instructor's extras, its URL the edition's."""
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    as_toml = json.dumps  # a JSON string or list of strings is also TOML
    return f"""[build-system]
requires = ["setuptools>=68"]
build-backend = "setuptools.build_meta"

[project]
name = {as_toml(project["name"])}
version = {as_toml(project["version"])}
description = {as_toml(project["description"])}
readme = "README.md"
requires-python = {as_toml(project["requires-python"])}
license = {{ text = {as_toml(project["license"]["text"])} }}
# PyTorch is installed first by `make lab` (scripts/install-torch.sh); Colab keeps its own.
dependencies = {as_toml(project["dependencies"])}

[project.optional-dependencies]
lab = {as_toml(project["optional-dependencies"]["lab"])}

[project.urls]
Repository = {as_toml(url)}

[tool.setuptools.packages.find]
include = ["lmcourse*", "autograder*"]

[tool.setuptools.package-data]
autograder = ["public_checks.json"]
"""


def public_checks(notebooks: dict) -> dict:
    """{notebook: {exercise: {"points", "source"}}} from the released
    notebooks' locked check cells (grade_id = the exercise's name)."""
    checks = {}
    for name, notebook in sorted(notebooks.items()):
        for cell in notebook.cells:
            meta = cell.metadata.get("nbgrader", {})
            if cell.cell_type == "code" and meta.get("grade") and not meta.get("solution"):
                checks.setdefault(Path(name).stem, {})[meta["grade_id"]] = {
                    "points": meta["points"], "source": cell.source}
    return checks


def scan(folder: Path) -> list[str]:
    """What in `folder` must not reach students: solution or hidden-test
    regions, the hidden checks, the references, solutions, worked
    submissions, the project's tests, a secret."""
    problems = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if FORBIDDEN_PARTS & set(relative.parts):
            problems.append(f"{relative}: a folder students must not get")
        elif FORBIDDEN_NAMES.match(path.name):
            problems.append(f"{relative}: a grader secret")
        elif path.is_file():
            text = path.read_bytes().decode("utf-8", errors="replace")
            problems += [f"{relative}: contains '{marker}'" for marker in FORBIDDEN_TEXT if marker in text]
    return problems


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--url", required=True,
                        help="the student repository's GitHub URL, where Colab will clone it from")
    parser.add_argument("--out", type=Path, default=REPO / "dist" / "student-edition")
    args = parser.parse_args(argv)
    try:
        out = build(args.url, args.out)
    except ValueError as error:
        print(f"student-edition: {error}", file=sys.stderr)
        return 1
    print(f"Student edition written to {out} (badges and Colab set-up point at {args.url}).")
    print("Publish it as its own repository, with a fresh history:")
    print(f"  cd {out} && git init -b main && git add . && git commit -m 'Course' && "
          f"git remote add origin {args.url} && git push -u origin main")
    return 0


if __name__ == "__main__":
    sys.exit(main())
