"""Builds data/checkpoints/span_corruption.pt: notebook 04's span-corruption pretraining run
to its end (PRETRAINING_STEPS, 12,000 steps) instead of stopping at its 4-minute budget.

Four minutes on a quiet 2-core CPU (about 2,100-2,200 steps) are too few pretraining for the
Folio -> modern task, so on a machine whose own run stops short, notebook 04 fine-tunes this
checkpoint instead. It is the solution notebook's own code, run in a fresh kernel with one
setting of its parameters cell changed (PRETRAINING_SECONDS = None: no time budget), so it is
rebuilt exactly as a learner would train it:

    python data/build_span_corruption_checkpoint.py     # about 22 minutes on 2 CPU cores

The weights are stored in float16 (half the size of float32), with the settings they were trained
with, their validation loss, and a check: one batch of validation windows (inputs, decoder
inputs, targets) and the loss of the stored (rounded) weights on it, so that the notebook can
tell whether a learner's TinySeq2Seq computes the model that was trained.
"""
from __future__ import annotations

import json
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import run_notebook  # noqa: E402  (the repository, not an installed package)
from lmcourse.seq2seq import pretrained_checkpoint_path  # noqa: E402

NOTEBOOK = REPO / "solutions" / "04_span_corruption.ipynb"
PRETRAINING_CELL = "pretrain_history = train("    # the notebook's cells run up to this one
SAVE_CELL = """
import dataclasses, json
weights = {name: tensor.detach().to("cpu", torch.float16) for name, tensor in model.state_dict().items()}
stored = TinySeq2Seq(config).to(device).eval()
stored.load_state_dict({name: tensor.float() for name, tensor in weights.items()})
check_batch = tuple(tensor.to(torch.int16) for tensor in validation[0])   # ids < 4096, targets -100: int16 holds them
with torch.no_grad():
    check_loss = seq2seq_loss(stored, tuple(tensor.to(device) for tensor in validation[0])).item()
checkpoint = {"state_dict": weights, "config": dataclasses.asdict(config),
              "noise_density": NOISE_DENSITY, "mean_noise_span_length": MEAN_SPAN,
              "pretraining": dict(inputs_length=INPUTS_LENGTH, batch_size=PRETRAINING_BATCH_SIZE, steps=PRETRAINING_STEPS,
                                  warmup=PRETRAINING_WARMUP, lr=PRETRAINING_LR, time_budget_s=PRETRAINING_SECONDS,
                                  eval_every=PRETRAINING_EVAL_EVERY),
              "steps": pretrain_history.steps[-1], "seconds": pretrain_history.seconds[-1],
              "val_loss": validation_loss(stored), "check_batch": check_batch, "check_loss": check_loss,
              "torch": str(torch.__version__)}
torch.save(checkpoint, CHECKPOINT_PATH)
print(json.dumps({key: checkpoint[key] for key in ("steps", "seconds", "val_loss", "check_loss")}))
"""


def build(destination: Path, steps: int | None = None) -> dict:
    """Run the notebook's pretraining to its end and save the checkpoint at `destination`:
    {"steps", "seconds", "val_loss", "check_loss", "wall_seconds"}. `steps` replaces
    PRETRAINING_STEPS (for a quick check of this script)."""
    def through_pretraining(notebook):
        last = next(i for i, cell in enumerate(notebook.cells) if PRETRAINING_CELL in cell.source)
        del notebook.cells[last + 1:]

    parameters = {"PRETRAINING_SECONDS": None} | ({} if steps is None else {"PRETRAINING_STEPS": steps})
    destination.parent.mkdir(parents=True, exist_ok=True)
    seconds, report = run_notebook(NOTEBOOK, f"CHECKPOINT_PATH = {str(destination)!r}\n" + SAVE_CELL,
                                   grading=False, cell_timeout_s=None, edit=through_pretraining, parameters=parameters)
    return {**report, "wall_seconds": round(seconds)}


if __name__ == "__main__":
    destination = pretrained_checkpoint_path()
    print(json.dumps({**build(destination), "path": str(destination)}))
