"""Notebook 00 (pretraining data) run top to bottom as a learner runs it, in a fresh kernel: its
default settings once (its measurement repeats itself over three seeds), then grading mode.

Reported: the notebook's wall time (target: at most 10 minutes on 2 CPU cores; under a minute in
grading mode); what the cleaning pipeline kept (documents and characters, crawl to cleaned text);
and the measurement of section 11: the same small causal LM (notebook 03's architecture over
bytes) trained on the raw text (every visible text of every page) and on the cleaned text, for
the same number of bytes, scored in bits per byte on held-out English news prose (the test
articles; the settings were chosen on the validation articles). Target: cleaned below raw on
every seed. The last line printed is one JSON object:

    {"raw_bits_per_byte": ..., "clean_bits_per_byte": ..., "seeds": 3, "documents_in": ...,
     "documents_kept": ..., "seconds": ...}

the bits per byte as means over the seeds, "seconds" the measurement's (six trainings and their
scoring). `python -m bench bench.pretraining_data` runs it with the other benchmarks' table;
`python -m bench.pretraining_data` ends with the JSON line.
"""
from __future__ import annotations

import json

from bench import REPO, grading_mode_row, run_notebook, wall_time_row

SEED = "the notebook's SEEDS (0, 1, 2): each seeds the model's initialisation and its batches"

NOTEBOOK = REPO / "solutions" / "00_pretraining_data.ipynb"
# Appended to the notebook: its measurements, as one JSON line on stdout.
REPORT_CELL = """
import json
print(json.dumps({
    "device": str(device), "seeds": list(SEEDS), "steps": TRAINING_STEPS,
    "bytes_per_run": TRAINING_STEPS * BATCH_SIZE * BLOCK_SIZE,
    "raw": [results["raw", seed] for seed in SEEDS], "clean": [results["cleaned", seed] for seed in SEEDS],
    "raw_bytes": len(raw_text.encode()), "clean_bytes": len(clean_text.encode()),
    "survival": survival, "measure_seconds": measure_seconds,
}))
"""


def run() -> list[dict]:
    rows, line = measure()
    print(json.dumps(line))
    return rows


def measure() -> tuple[list[dict], dict]:
    """Both runs of the notebook: (rows, the JSON line)."""
    seconds, report = run_notebook(NOTEBOOK, REPORT_CELL, grading=False)
    return summarise(report, seconds, grading_mode_row(NOTEBOOK, REPORT_CELL))


def summarise(report: dict, seconds: float, grading_row: dict) -> tuple[list[dict], dict]:
    """The benchmark's rows and its JSON line, from the notebook's report and wall times."""
    raw, clean, seeds = report["raw"], report["clean"], report["seeds"]
    survival = report["survival"]
    (documents_in, _), (documents_kept, _) = survival["crawled"], list(survival.values())[-1]
    raw_mean, clean_mean = sum(raw) / len(raw), sum(clean) / len(clean)
    rows = [
        wall_time_row(NOTEBOOK, "default", seconds, report["device"]),
        grading_row,
        {"benchmark": "00 cleaning pipeline (documents, characters)",
         **{stage.replace(" ", "_"): f"{n_documents} / {n_characters:,}"
            for stage, (n_documents, n_characters) in survival.items()}},
        {"benchmark": f"00 same LM, same {report['bytes_per_run']:,} bytes: test bits per byte "
                      f"(mean of {len(seeds)} seeds)",
         "raw": raw_mean, "cleaned": clean_mean, "difference": clean_mean - raw_mean,
         "per_seed": "  ".join(f"{r:.3f}/{c:.3f}" for r, c in zip(raw, clean)),
         "seconds": report["measure_seconds"], "baseline": "raw text",
         "target": "cleaned < raw on every seed", "ok": all(c < r for r, c in zip(raw, clean))},
    ]
    line = {"raw_bits_per_byte": round(raw_mean, 4), "clean_bits_per_byte": round(clean_mean, 4),
            "seeds": len(seeds), "documents_in": documents_in, "documents_kept": documents_kept,
            "seconds": round(report["measure_seconds"], 1)}
    return rows, line


if __name__ == "__main__":
    from bench.__main__ import print_table

    table, json_line = measure()
    print_table(table)
    print(json.dumps(json_line))
