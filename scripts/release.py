"""Build the student notebooks from the instructor notebooks (`make release`).

For every solutions/NN_name.ipynb this runs nbgrader's `generate_assignment` in a
throwaway course folder (its own gradebook database included) and copies the
released notebook to notebooks/NN_name.ipynb: solution regions replaced by
`# YOUR CODE HERE`, hidden tests removed, outputs cleared, check cells locked.
Each notebook's Colab badge and set-up cell point at the course's public
repository: `Repository` under `[project.urls]` in pyproject.toml, the one
setting that the student edition (scripts/student_edition.py) overrides.

    python scripts/release.py          # write notebooks/
    python scripts/release.py --check  # exit 1, naming the files, if notebooks/ is stale
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import tempfile
import tomllib
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"
# The repository the solutions' Colab links are written for; releases retarget them.
SOLUTIONS_URL = "https://github.com/lmcourse/lm-pretraining-course"

# nbgrader's gradebook shells out to the `alembic` command, which lives beside this
# interpreter: make it findable when the virtual environment is not activated
# (`make release` runs .venv/bin/python directly).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


GITHUB_URL = re.compile(r"https://github\.com/(?P<owner>[A-Za-z0-9_.-]+)/(?P<name>[A-Za-z0-9_.-]+)")


def course_url(pyproject: Path = REPO / "pyproject.toml") -> str:
    """The course's public repository, where Colab clones it from."""
    return tomllib.loads(pyproject.read_text())["project"]["urls"]["Repository"]


def retarget(text: str, source_url: str, url: str) -> str:
    """`text` (a notebook, a README) with its links to the GitHub repository
    `source_url` pointing at `url` instead: the repository, its Colab pages
    and the folder Colab clones it to.

    >>> retarget("colab.research.google.com/github/a/b/blob", "https://github.com/a/b", "https://github.com/c/d")
    'colab.research.google.com/github/c/d/blob'
    """
    old, new = GITHUB_URL.fullmatch(source_url), GITHUB_URL.fullmatch(url)
    if not old or not new:
        raise ValueError(f"a course URL is a GitHub repository's, https://github.com/OWNER/NAME: "
                         f"{source_url if not old else url!r}")
    for before, after in ((source_url, url),
                          (f"/github/{old['owner']}/{old['name']}/", f"/github/{new['owner']}/{new['name']}/"),
                          (f"/content/{old['name']}", f"/content/{new['name']}")):
        text = text.replace(before, after)
    return text


def solution_notebooks() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def release_notebooks(solutions: list[Path], url: str | None = None) -> dict[str, bytes]:
    """The student version of each instructor notebook: file name -> the bytes of its file,
    its Colab links pointing at `url` (default: `course_url()`).

    All of them are released from one throwaway course, so that nbgrader creates its
    gradebook (which starts an `alembic` process) once, not once per notebook.
    """
    with tempfile.TemporaryDirectory(prefix="lmcourse-release-") as tmp:
        course = Path(tmp)
        for solution in solutions:
            source = course / "source" / solution.stem
            source.mkdir(parents=True)
            (source / solution.name).write_bytes(solution.read_bytes())

        # Only this configuration: no nbgrader_config.py or user settings leak in.
        config = Config()
        config.CourseDirectory.root = str(course)
        config.CourseDirectory.db_url = f"sqlite:///{course / 'gradebook.db'}"
        api = NbGraderAPI(config=config)
        released = {}
        for solution in solutions:
            result = api.generate_assignment(solution.stem, force=True, create=True)
            if not result["success"]:
                raise RuntimeError(
                    f"nbgrader generate_assignment failed for {solution.name}:\n"
                    f"{result.get('error') or result.get('log')}"
                )
            text = (course / "release" / solution.stem / solution.name).read_text(encoding="utf-8")
            released[solution.name] = retarget(text, SOLUTIONS_URL, url or course_url()).encode("utf-8")
        return released


def stale_notebooks(notebooks: Path = NOTEBOOKS) -> list[str]:
    """Notebooks in `notebooks` that differ from a fresh release, are missing, or have no solution."""
    released = release_notebooks(solution_notebooks())
    problems = []
    for name, content in released.items():
        target = notebooks / name
        if not target.exists():
            problems.append(f"{target} (missing)")
        elif target.read_bytes() != content:
            problems.append(f"{target} (differs from a fresh release)")
    for orphan in sorted(notebooks.glob("*.ipynb")):
        if orphan.name not in released:
            problems.append(f"{orphan} (no solutions/{orphan.name})")
    return problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--check", action="store_true",
        help="write nothing; exit 1 if notebooks/ differs from a fresh release",
    )
    args = parser.parse_args(argv)

    if args.check:
        problems = stale_notebooks()
        for problem in problems:
            print(f"stale: {problem}", file=sys.stderr)
        if problems:
            print("Run `make release` to regenerate notebooks/.", file=sys.stderr)
        return 1 if problems else 0

    NOTEBOOKS.mkdir(exist_ok=True)
    for name, content in release_notebooks(solution_notebooks()).items():
        (NOTEBOOKS / name).write_bytes(content)
        print(f"released solutions/{name} -> notebooks/{name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
