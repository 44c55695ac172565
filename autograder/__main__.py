"""python -m autograder grade PATH... --json REPORT [--csv CSV] [--workers N] [--fresh]
                          [--sandbox {bubblewrap,unprivileged,none}]
python -m autograder check NOTEBOOK...   (a learner's self-check, from a terminal)

The submissions' code runs in a bubblewrap sandbox; where it cannot, the
grader stops and says why, unless --sandbox names a weaker mode, which every
report row records (docs/sandbox.md).

With --json, each submission's rows go to a journal beside the report
(REPORT with the suffix .journal.jsonl) as soon as it is graded: run the same
command again after a kill and it grades only what is left. --fresh discards
the journal and grades everything again."""
import argparse
import os
import sys

from tqdm import tqdm

from . import report, sandbox
from .grade import find_notebooks, grade_paths, grader_fingerprint


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade notebooks (files or folders of them)",
                                description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    grade.add_argument("paths", nargs="+", metavar="PATH")
    grade.add_argument("--json", dest="json_path", help="write the report as JSON here")
    grade.add_argument("--csv", dest="csv_path", help="also write the report as CSV here")
    grade.add_argument("--workers", type=int, default=len(os.sched_getaffinity(0)),
                       help="notebooks graded at once (default: one per core; a worker "
                            "runs single-threaded)")
    grade.add_argument("--fresh", action="store_true",
                       help="ignore the journal of an earlier run: grade every submission again")
    grade.add_argument("--sandbox", choices=sandbox.MODES, default=sandbox.DEFAULT_MODE,
                       help="how the submissions' code is contained (default: bubblewrap; "
                            "unprivileged: root in a container without user namespaces; "
                            "none: no isolation)")
    check = commands.add_parser(
        "check", help="a learner's self-check of notebooks, as their last cell runs it",
        description="The self-check a notebook's last cell runs (check_my_work), from a terminal: "
                    "a table per notebook. It needs no secret and no set-up; in a student edition "
                    "it runs the notebooks' own checks, and the instructor's grade runs more.")
    check.add_argument("paths", nargs="+", metavar="NOTEBOOK")
    args = parser.parse_args(argv)

    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        parser.error("no such file or folder: " + ", ".join(missing))
    if args.command == "check":
        from .selfcheck import check_my_work
        for path in find_notebooks(args.paths):
            check_my_work(path)
        return 0

    try:
        sandbox.require(args.sandbox)
    except sandbox.SandboxUnavailable as refusal:
        print(f"autograder: {refusal}", file=sys.stderr)
        return 2
    if args.sandbox != sandbox.DEFAULT_MODE:
        print(f"autograder: sandbox {sandbox.describe(args.sandbox)}", file=sys.stderr)

    journal = None
    if args.json_path:
        path = report.journal_path(args.json_path)
        if args.fresh:
            path.unlink(missing_ok=True)
        journal = report.Journal(path, grader_fingerprint() + args.sandbox)
        if len(journal):
            print(f"Resuming: submissions already graded are taken from {path} "
                  f"(--fresh grades them again).", file=sys.stderr)
    progress = tqdm(total=len(find_notebooks(args.paths)), unit="notebook", file=sys.stderr,
                    desc="grading")
    try:
        rows = grade_paths(args.paths, workers=args.workers, journal=journal, mode=args.sandbox,
                           on_result=lambda path, rows: progress.update())
    finally:
        progress.close()
        if journal:
            journal.close()
    if args.json_path:
        report.write_json(rows, args.json_path)
    if args.csv_path:
        report.write_csv(rows, args.csv_path)
    print(report.summary_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
