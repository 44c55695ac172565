"""data/checkpoints/masked_lm.pt, notebook 02's pretraining in its default settings, which
notebook 05 races against an existing encoder: it was trained with the settings and the
pretraining cell the notebook has now (its five-minute budget replaced by the steps that budget
makes on two quiet cores; a change to any of them without a rebuild fails here), the solution's
TinyBert loads it, a missing file says how to build it, and the script that builds it works (run
for a few seconds)."""
import importlib.util

import nbformat
import pytest
import torch

import helpers

SOLUTIONS = helpers.solutions_notebook("02_masked_lm")
BUILD_SCRIPT = SOLUTIONS.parent.parent / "data" / "build_masked_lm_checkpoint.py"


def load_build_script():
    spec = importlib.util.spec_from_file_location("build_masked_lm_checkpoint", BUILD_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    return script


def notebook_settings(grading: bool = False) -> dict:
    """Notebook 02's parameters cell run with grading_mode() returning `grading`, on a CPU."""
    import bench

    notebook = nbformat.read(str(SOLUTIONS), as_version=4)
    namespace = {"grading_mode": lambda: grading, "device": torch.device("cpu"), "torch": torch}
    exec(notebook.cells[bench.parameters_cell(notebook)].source, namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


@pytest.fixture(scope="module")
def checkpoint():
    from lmcourse.pretrained import load_masked_lm_checkpoint

    return load_masked_lm_checkpoint()


def test_checkpoint_is_notebook_02s_default_pretraining(checkpoint):
    """Rebuild with `python data/build_masked_lm_checkpoint.py` when this fails."""
    script = load_build_script()
    settings = notebook_settings()
    assert settings["PRETRAIN_SECONDS"] == script.BUDGET_S, "a new budget makes another number of steps"
    built_with = {name: settings[name] for name in script.SETTINGS} | {"PRETRAIN_SECONDS": None,
                                                                      "PRETRAIN_STEPS": script.QUIET_STEPS}
    assert checkpoint["settings"] == built_with
    notebook = nbformat.read(str(SOLUTIONS), as_version=4)
    assert checkpoint["pretraining_cell"] == script.pretraining_source(notebook)
    assert {key: checkpoint["config"][key] for key in settings["MODEL_SIZES"]} == settings["MODEL_SIZES"]
    assert checkpoint["device"] == "cpu" and checkpoint["steps"] == script.QUIET_STEPS
    assert checkpoint["tokens"] == checkpoint["steps"] * settings["BATCH_SIZE"] * settings["MODEL_SIZES"]["block_size"]
    assert checkpoint["masked_accuracy"] > 0.1   # the most frequent token alone: about 5%


def test_checkpoint_loads_into_the_solutions_tinybert(checkpoint):
    namespace = {}
    exec("import math\nfrom dataclasses import dataclass\nimport torch\nimport torch.nn as nn\n"
         "import torch.nn.functional as F\n", namespace)
    notebook = nbformat.read(str(SOLUTIONS), as_version=4)
    exec(next(cell.source for cell in notebook.cells if "class TinyBertConfig" in cell.source), namespace)
    exec(helpers.cell_source(SOLUTIONS, "attention_code"), namespace)
    exec(helpers.cell_source(SOLUTIONS, "TinyBert_code"), namespace)
    model = namespace["TinyBert"](namespace["TinyBertConfig"](**checkpoint["config"])).eval()
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    assert all(tensor.dtype == torch.float32 for tensor in checkpoint["state_dict"].values())


def test_missing_checkpoint_says_how_to_build_it(tmp_path, monkeypatch):
    from lmcourse.pretrained import load_masked_lm_checkpoint

    monkeypatch.setenv("LMCOURSE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="build_masked_lm_checkpoint.py"):
        load_masked_lm_checkpoint()


def test_build_script_saves_what_the_loader_reads(tmp_path, monkeypatch):
    """The build script with a 3-second budget on a small model and small texts: the notebook's
    cells up to its pretraining in a fresh kernel, then a checkpoint the loader reads."""
    script = load_build_script()
    sizes = dict(block_size=32, n_layer=1, n_head=2, n_embd=32, n_inner=64)
    report = script.build(tmp_path / "checkpoints" / "masked_lm.pt",
                          parameters={"MODEL_SIZES": sizes, "PRETRAIN_SECONDS": 3, "TEXT_LIMIT": 50_000,
                                      "SENTENCE_LIMIT": 200})
    from lmcourse.pretrained import load_masked_lm_checkpoint

    monkeypatch.setenv("LMCOURSE_DATA", str(tmp_path))   # only now: the notebook above reads the real data
    built = load_masked_lm_checkpoint()
    assert built["steps"] == report["steps"] >= 1 and built["settings"]["PRETRAIN_SECONDS"] == 3
    assert {key: built["config"][key] for key in sizes} == sizes
    assert built["state_dict"]["tok_emb.weight"].shape == (built["config"]["vocab_size"], 32)
