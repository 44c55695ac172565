"""python -m autograder grade PATH... --json REPORT [--csv CSV] [--workers N] [--fresh]
                          [--sandbox {bubblewrap,unprivileged,none}]
                          [--gradebook CSV] [--canvas CSV] [--feedback FOLDER]
python -m autograder check NOTEBOOK...   (a learner's self-check, from a terminal)
python -m autograder classroom NOTEBOOK... [--output FILE]   (the self-check for GitHub Classroom)
python -m autograder gradescope NOTEBOOK_NAME... --out FILE.zip [--sandbox MODE]   (Gradescope's autograder)

The submissions' code runs in a bubblewrap sandbox; where it cannot, the
grader stops and says why, unless --sandbox names a weaker mode, which every
report row records (docs/sandbox.md).

With --json, each submission's rows go to a journal beside the report
(REPORT with the suffix .journal.jsonl) as soon as it is graded: run the same
command again after a kill and it grades only what is left. --fresh discards
the journal and grades everything again.

--gradebook writes one row per student (a column per notebook, and the
total), --canvas the same in the layout of Canvas's gradebook import, and
--feedback one HTML page per student; a student is named by the LMS's file
name, else by the folder under PATH that holds the file (autograder.lms)."""
import argparse
import os
import sys

from tqdm import tqdm

from . import lms, report, sandbox
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
    grade.add_argument("--gradebook", metavar="CSV", help="write one row per student (a column per notebook) here")
    grade.add_argument("--canvas", metavar="CSV", help="write the gradebook in the layout Canvas imports here")
    grade.add_argument("--feedback", metavar="FOLDER", help="write one feedback page per student here")
    check = commands.add_parser(
        "check", help="a learner's self-check of notebooks, as their last cell runs it",
        description="The self-check a notebook's last cell runs (check_my_work), from a terminal: "
                    "a table per notebook. It needs no secret and no set-up; in a student edition "
                    "it runs the notebooks' own checks, and the instructor's grade runs more.")
    check.add_argument("paths", nargs="+", metavar="NOTEBOOK")
    classroom = commands.add_parser(
        "classroom", help="the self-check, as GitHub Classroom's autograding reporter reads it",
        description="Runs the self-check of each notebook and writes its points as GitHub Classroom's "
                    "reporter reads them: `result=<base64 JSON>`, appended to --output (the workflow's "
                    "$GITHUB_OUTPUT), else printed.")
    classroom.add_argument("paths", nargs="+", metavar="NOTEBOOK")
    classroom.add_argument("--output", metavar="FILE", help="append result=... to this file")
    gradescope = commands.add_parser(
        "gradescope", help="build Gradescope's autograder zip for an assignment's notebooks",
        description="Writes the zip to upload as a Gradescope programming assignment's autograder: "
                    "setup.sh, run_autograder, this grader with its hidden checks and secret, the data "
                    "and pinned requirements (autograder/gradescope.py).")
    gradescope.add_argument("notebooks", nargs="+", metavar="NOTEBOOK_NAME", help="e.g. 01_tokenization")
    gradescope.add_argument("--out", required=True, metavar="FILE.zip")
    gradescope.add_argument("--sandbox", choices=sandbox.MODES, default="unprivileged",
                            help="the mode inside Gradescope's container (default: unprivileged, as "
                                 "Gradescope runs as root without user namespaces)")
    args = parser.parse_args(argv)

    if args.command == "gradescope":
        from .gradescope import build
        try:
            print(build(args.notebooks, args.out, mode=args.sandbox))
        except ValueError as refusal:
            parser.error(str(refusal))
        return 0
    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        parser.error("no such file or folder: " + ", ".join(missing))
    if args.command == "check":
        from .selfcheck import check_my_work
        for path in find_notebooks(args.paths):
            check_my_work(path)
        return 0
    if args.command == "classroom":
        from .classroom import encode, result
        from .selfcheck import check_my_work
        rows = [row for path in find_notebooks(args.paths) for row in check_my_work(path)]
        line = f"result={encode(result(rows))}\n"
        if args.output:
            with open(args.output, "a", encoding="utf-8") as file:
                file.write(line)
        else:
            print(line, end="")
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
    if args.gradebook or args.canvas:
        table = lms.gradebook(rows, args.paths)
        if args.gradebook:
            lms.write_gradebook_csv(table, args.gradebook)
        if args.canvas:
            lms.write_canvas_csv(table, args.canvas)
    if args.feedback:
        lms.write_feedback(rows, args.feedback, args.paths)
    print(report.summary_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
