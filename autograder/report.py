"""Writing grade rows as the JSON list other tools read, and as CSV."""
import csv
import json
from pathlib import Path

COLUMNS = ("submission", "notebook", "exercise", "points", "max_points", "status", "message")


def write_json(rows, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    Path(path).write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")


def write_csv(rows, path):
    Path(path).parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as file:
        writer = csv.DictWriter(file, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(rows)


def summary_table(rows) -> str:
    """A small per-exercise table for people reading a terminal."""
    lines = [f"{'notebook':<20} {'exercise':<16} {'points':>8}  status   message"]
    for row in rows:
        points = f"{row['points']:g}/{row['max_points']:g}"
        lines.append(f"{str(row['notebook']):<20} {str(row['exercise']):<16} {points:>8}  "
                     f"{row['status']:<8} {row['message'][:80]}")
    return "\n".join(lines)
