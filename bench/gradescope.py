"""A full submission graded inside Gradescope's default container limits:
half a CPU, 768 MB of memory, 10 minutes.

Each course notebook's solutions (a submission that earns every point) is
graded alone, then all of them together as one submission, as Gradescope's
`run_autograder` does it (`python -m autograder grade`, one worker), in a
control group holding the grader and everything it starts: CPU quota 50 ms
per 100 ms, memory capped at 768 MB. Reported: wall seconds, peak memory of
the group (resident memory and page cache, as a container's limit counts
it), and the exercises that passed (those that did not, with their status).
The baseline of each row is the same grading with no limits, in the same
run: its peak is the memory the container needs for it. Targets: the full
submission within 600 s and every exercise passing under the limits. Where a
notebook does not fit, its row says so, and its unlimited peak is the memory
to give the container.

Runs as root where control groups can be made (skipped rows say why
otherwise). The sandbox is bubblewrap here (Gradescope's container uses the
unprivileged mode: the same worker and checks, another way of isolating
them).
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from contextlib import contextmanager
from pathlib import Path

from bench import REPO

SEED = "the grader's secret (hidden inputs drawn from it); the solutions are fixed"
CPU_QUOTA = 0.5
MEMORY_BYTES = 768 * 1024**2
TIME_LIMIT_S = 600.0
V1 = Path("/sys/fs/cgroup")
GROUP = "lmcourse-gradescope-bench"


@contextmanager
def control_group(cpu: float | None, memory: int | None):
    """A control group with these limits (None: unlimited); yields
    (a function that moves a pid into it, a function that reads its peak memory)."""
    unified = (V1 / "cgroup.controllers").exists()
    if unified:
        folder = V1 / GROUP
        folder.mkdir(exist_ok=True)
        (folder / "cpu.max").write_text(f"{int(cpu * 100000)} 100000\n" if cpu else "max 100000\n")
        (folder / "memory.max").write_text(f"{memory}\n" if memory else "max\n")
        (folder / "memory.swap.max").write_text("0\n")
        folders = [folder]

        def peak():
            return int((folder / "memory.peak").read_text())
    else:
        folders = [V1 / "cpu" / GROUP, V1 / "memory" / GROUP]
        for folder in folders:
            folder.mkdir(exist_ok=True)
        (folders[0] / "cpu.cfs_period_us").write_text("100000\n")
        (folders[0] / "cpu.cfs_quota_us").write_text(f"{int(cpu * 100000)}\n" if cpu else "-1\n")
        (folders[1] / "memory.limit_in_bytes").write_text(f"{memory}\n" if memory else "-1\n")
        (folders[1] / "memory.max_usage_in_bytes").write_text("0\n")

        def peak():
            return int((folders[1] / "memory.max_usage_in_bytes").read_text())

    def join(pid):
        for folder in folders:
            (folder / "cgroup.procs").write_text(f"{pid}\n")
    try:
        yield join, peak
    finally:
        for folder in folders:
            for _ in range(50):
                try:
                    folder.rmdir()
                    break
                except OSError:  # processes still leaving
                    time.sleep(0.1)


def grade_in_group(submission: Path, cpu, memory) -> dict:
    report = submission.parent / f"{submission.name}.json"
    with control_group(cpu, memory) as (join, peak):
        start = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "autograder", "grade", str(submission), "--json", str(report),
                               "--workers", "1", "--fresh"], cwd=REPO, capture_output=True, text=True,
                              preexec_fn=lambda: join(os.getpid()), timeout=2 * TIME_LIMIT_S)
        seconds = time.perf_counter() - start
        peak_bytes = peak()
    rows = json.loads(report.read_text()) if report.exists() else []
    return {"seconds": seconds, "peak_mb": round(peak_bytes / 1024**2), "returncode": done.returncode,
            "passed": sum(row["status"] == "passed" for row in rows), "exercises": len(rows),
            "not_passed": " ".join(f"{row['exercise']}:{row['status']}" for row in rows if row["status"] != "passed")}


def run() -> list[dict]:
    from autograder import registry
    if os.geteuid() != 0 or not os.access(V1, os.W_OK) and not os.access(V1 / "memory", os.W_OK):
        return [{"benchmark": "Gradescope limits", "skipped": "needs root and a writable /sys/fs/cgroup"}]
    notebooks = registry.notebooks()
    rows = []
    with tempfile.TemporaryDirectory(prefix="lmcourse-gradescope-bench-") as folder:
        folder = Path(folder)
        full = folder / "full"
        full.mkdir()
        for name in notebooks:
            shutil.copy(REPO / "solutions" / f"{name}.ipynb", full)
            alone = folder / name
            alone.mkdir()
            shutil.copy(REPO / "solutions" / f"{name}.ipynb", alone)
            measured = grade_in_group(alone, CPU_QUOTA, MEMORY_BYTES)
            unlimited = grade_in_group(alone, None, None)
            rows.append({"benchmark": f"{name} alone, Gradescope's limits", "seconds": measured["seconds"],
                         "peak_mb": measured["peak_mb"], "passed": f"{measured['passed']}/{measured['exercises']}",
                         "not_passed": measured["not_passed"], "baseline": "same, no limits",
                         "baseline_seconds": unlimited["seconds"], "baseline_peak_mb": unlimited["peak_mb"],
                         "ok": measured["passed"] == measured["exercises"] > 0})
        limited = grade_in_group(full, CPU_QUOTA, MEMORY_BYTES)
        free = grade_in_group(full, None, None)
    rows.append({"benchmark": f"full submission ({len(notebooks)} notebooks), Gradescope's limits "
                              f"({CPU_QUOTA:g} CPU, {MEMORY_BYTES // 1024**2} MB)",
                 "seconds": limited["seconds"], "peak_mb": limited["peak_mb"],
                 "passed": f"{limited['passed']}/{limited['exercises']}", "not_passed": limited["not_passed"],
                 "baseline": "same, no limits", "baseline_seconds": free["seconds"], "baseline_peak_mb": free["peak_mb"],
                 "target": f"<= {TIME_LIMIT_S:g} s, all passed",
                 "ok": limited["seconds"] <= TIME_LIMIT_S and limited["passed"] == limited["exercises"] > 0})
    return rows
