"""python -m autograder grade PATH... --json REPORT [--csv CSV] [--workers N]"""
import argparse
import os
import sys

from . import report
from .grade import grade_paths


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m autograder")
    commands = parser.add_subparsers(dest="command", required=True)
    grade = commands.add_parser("grade", help="grade notebooks (files or folders of them)")
    grade.add_argument("paths", nargs="+", metavar="PATH")
    grade.add_argument("--json", dest="json_path", help="write the report as JSON here")
    grade.add_argument("--csv", dest="csv_path", help="also write the report as CSV here")
    grade.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2) // 2),
                       help="notebooks graded at once (default: half the cores)")
    args = parser.parse_args(argv)

    missing = [p for p in args.paths if not os.path.exists(p)]
    if missing:
        parser.error("no such file or folder: " + ", ".join(missing))
    rows = grade_paths(args.paths, workers=args.workers)
    if args.json_path:
        report.write_json(rows, args.json_path)
    if args.csv_path:
        report.write_csv(rows, args.csv_path)
    print(report.summary_table(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
