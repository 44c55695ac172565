"""Builds data/checkpoints/masked_lm.pt: notebook 02's masked-LM pretraining in its default
settings, which notebook 05 races against an existing pretrained encoder.

It is the solution notebook's own code, run in a fresh kernel on the CPU, up to the end of its
pretraining cell; then the model is saved:

    python data/build_masked_lm_checkpoint.py     # 7-12 minutes on 2 CPU cores

The notebook's default run stops on a five-minute time budget (PRETRAIN_SECONDS = 300), so
how far it gets depends on how fast and how busy the machine is. The build replaces the budget
by the steps it makes on two quiet CPU cores (QUIET_STEPS, the number the notebook's settings
cell states) and no budget: the same run, whatever the load while building. The learning rate
follows the same schedule either way (its cosine ends with the budget, or with the steps).

The weights are stored in float16 (half the size of float32: about 2 MB), with the settings of
the parameters cell they were trained with (those two replaced) and the pretraining cell's
source, so that a test fails when notebook 02 changes them without a rebuild, and with what
the run did: its steps, seconds, tokens and held-out masked-token accuracy.
"""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bench import run_notebook  # noqa: E402  (the repository, not an installed package)
from lmcourse.pretrained import masked_lm_checkpoint_path  # noqa: E402

NOTEBOOK = REPO / "solutions" / "02_masked_lm.ipynb"
PRETRAINING_CELL = "history = train(model, get_batch, pretraining_loss"   # the notebook runs up to this cell
# The settings of the parameters cell that shape the pretrained model.
SETTINGS = ("MODEL_SIZES", "PRETRAIN_SECONDS", "PRETRAIN_STEPS", "BATCH_SIZE", "TEXT_LIMIT", "SENTENCE_LIMIT")
BUDGET_S = 300       # notebook 02's PRETRAIN_SECONDS, which QUIET_STEPS stands for
QUIET_STEPS = 6_300  # the steps BUDGET_S makes on two quiet CPU cores ("about 6,300", its settings cell)
SAVE_CELL = """
import dataclasses, json
checkpoint = {"state_dict": {name: tensor.detach().to("cpu", torch.float16) for name, tensor in model.state_dict().items()},
              "config": dataclasses.asdict(CONFIG),
              "settings": {name: globals()[name] for name in SETTINGS},
              "pretraining_cell": PRETRAINING_SOURCE,
              "steps": history.steps[-1], "seconds": history.seconds[-1], "tokens": history.tokens_seen[-1],
              "masked_accuracy": final["masked_accuracy"], "val_loss": final["val_loss"], "device": str(device),
              "torch": str(torch.__version__)}
torch.save(checkpoint, CHECKPOINT_PATH)
print(json.dumps({key: checkpoint[key] for key in ("steps", "seconds", "tokens", "masked_accuracy", "device")}))
"""


def pretraining_source(notebook) -> str:
    """The source of the notebook's pretraining cell."""
    (source,) = [cell.source for cell in notebook.cells if cell.cell_type == "code" and PRETRAINING_CELL in cell.source]
    return source


def build(destination: Path, parameters: dict | None = None) -> dict:
    """Run the notebook up to the end of its pretraining and save the checkpoint at `destination`:
    {"steps", "seconds", "tokens", "masked_accuracy", "device", "wall_seconds"}. `parameters`
    override settings of the parameters cell (by default QUIET_STEPS steps and no time budget;
    smaller ones for a quick check of this script)."""
    found = {}

    def through_pretraining(notebook):
        found["source"] = pretraining_source(notebook)
        last = next(i for i, cell in enumerate(notebook.cells) if PRETRAINING_CELL in cell.source)
        del notebook.cells[last + 1:]

    import nbformat
    source = pretraining_source(nbformat.read(str(NOTEBOOK), as_version=4))
    destination.parent.mkdir(parents=True, exist_ok=True)
    saved = os.environ.get("CUDA_VISIBLE_DEVICES")
    os.environ["CUDA_VISIBLE_DEVICES"] = ""   # the CPU run, as the default a learner's laptop makes
    try:
        seconds, report = run_notebook(
            NOTEBOOK, f"CHECKPOINT_PATH = {str(destination)!r}\nSETTINGS = {SETTINGS!r}\n"
                      f"PRETRAINING_SOURCE = {source!r}\n" + SAVE_CELL,
            grading=False, cell_timeout_s=None, edit=through_pretraining,
            parameters={"PRETRAIN_SECONDS": None, "PRETRAIN_STEPS": QUIET_STEPS} if parameters is None else parameters)
    finally:
        if saved is None:
            del os.environ["CUDA_VISIBLE_DEVICES"]
        else:
            os.environ["CUDA_VISIBLE_DEVICES"] = saved
    assert found["source"] == source
    return {**report, "wall_seconds": round(seconds)}


if __name__ == "__main__":
    destination = masked_lm_checkpoint_path()
    print(json.dumps({**build(destination), "path": str(destination)}))
