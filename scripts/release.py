"""Build the student notebooks from the instructor notebooks (`make release`).

For every solutions/NN_name.ipynb this runs nbgrader's `generate_assignment` in a
throwaway course folder (its own gradebook database included) and copies the
released notebook to notebooks/NN_name.ipynb: solution regions replaced by
`# YOUR CODE HERE`, hidden tests removed, outputs cleared, check cells locked.

    python scripts/release.py          # write notebooks/
    python scripts/release.py --check  # exit 1, naming the files, if notebooks/ is stale
"""
from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from nbgrader.apps import NbGraderAPI
from traitlets.config import Config

REPO = Path(__file__).resolve().parent.parent
SOLUTIONS = REPO / "solutions"
NOTEBOOKS = REPO / "notebooks"

# nbgrader's gradebook shells out to the `alembic` command, which lives beside this
# interpreter: make it findable when the virtual environment is not activated
# (`make release` runs .venv/bin/python directly).
os.environ["PATH"] = os.pathsep.join([str(Path(sys.executable).parent), os.environ.get("PATH", "")])


def solution_notebooks() -> list[Path]:
    return sorted(SOLUTIONS.glob("[0-9][0-9]_*.ipynb"))


def release_notebooks(solutions: list[Path]) -> dict[str, bytes]:
    """The student version of each instructor notebook: file name -> the bytes of its file.

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
            released[solution.name] = (course / "release" / solution.stem / solution.name).read_bytes()
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
