"""data/checkpoints/span_corruption.pt, notebook 04's pretraining run to its end: it was trained
with the default settings of the notebook's parameters cell (the one cell that reads grading
mode), the notebook's check of a learner's model (the checkpoint's loss on its check batch) passes
correct code and fails wrong code, a missing file says how to build it, and the script that builds
it works (run for a few steps)."""
import importlib.util

import nbformat
import pytest
import torch

import helpers
from wrong.span_corruption import CORRECT, WRONG

SOLUTIONS = helpers.solutions_notebook("04_span_corruption")
BUILD_SCRIPT = SOLUTIONS.parent.parent / "data" / "build_span_corruption_checkpoint.py"


def checkpoint_loss(model_source, checkpoint):
    """The loss of the checkpoint's weights, loaded into the TinySeq2Seq of `model_source`, on its
    check batch: what the notebook's check cell compares with checkpoint["check_loss"]."""
    namespace = helpers.seq2seq_classes(model_source)
    model = namespace["TinySeq2Seq"](namespace["Seq2SeqConfig"](**checkpoint["config"])).eval()
    model.load_state_dict(checkpoint["state_dict"], strict=True)
    input_ids, decoder_input_ids, targets = checkpoint["check_batch"]
    with torch.no_grad():
        logits = model(input_ids, decoder_input_ids)
    return torch.nn.functional.cross_entropy(logits.flatten(0, 1), targets.flatten(), ignore_index=-100).item()


@pytest.fixture(scope="module")
def checkpoint():
    from lmcourse.seq2seq import load_pretrained_checkpoint

    return load_pretrained_checkpoint()


def notebook_settings(grading: bool = False) -> dict:
    """The solution notebook's settings: its parameters cell (the one code cell tagged
    `parameters`) run with grading_mode() returning `grading`. {"MODEL_SIZES": {...}, ...}"""
    import bench

    notebook = nbformat.read(str(SOLUTIONS), as_version=4)
    namespace = {"grading_mode": lambda: grading, "torch": torch}
    exec(notebook.cells[bench.parameters_cell(notebook)].source, namespace)
    return {name: value for name, value in namespace.items() if name.isupper()}


def test_parameters_cell_in_grading_mode_is_tiny():
    """The same cell while a grader runs: a tiny model and a few steps of everything."""
    settings = notebook_settings(grading=True)
    assert settings["GRADING"] and settings["MODEL_SIZES"]["n_embd"] == 32
    assert settings["PRETRAINING_STEPS"] == settings["FINETUNING_STEPS"] == 3
    assert settings["RACING_MODEL"] == "own" and settings["TEST_LINES"] == 8


def test_checkpoint_is_the_notebooks_pretraining_run_to_its_end(checkpoint):
    """data/checkpoints/span_corruption.pt was trained with the settings the notebook has now:
    a change to them without a rebuild (data/build_span_corruption_checkpoint.py) fails here."""
    notebook = notebook_settings()
    assert checkpoint["pretraining"] == {
        "inputs_length": notebook["INPUTS_LENGTH"], "batch_size": notebook["PRETRAINING_BATCH_SIZE"],
        "steps": notebook["PRETRAINING_STEPS"], "warmup": notebook["PRETRAINING_WARMUP"],
        "lr": notebook["PRETRAINING_LR"], "time_budget_s": None, "eval_every": notebook["PRETRAINING_EVAL_EVERY"]}
    assert checkpoint["steps"] == notebook["PRETRAINING_STEPS"] == 12_000
    assert (checkpoint["noise_density"], checkpoint["mean_noise_span_length"]) == (notebook["NOISE_DENSITY"],
                                                                                   notebook["MEAN_SPAN"])
    assert {key: checkpoint["config"][key] for key in notebook["MODEL_SIZES"]} == notebook["MODEL_SIZES"]
    input_ids, decoder_input_ids, targets = checkpoint["check_batch"]
    assert input_ids.shape == (64, notebook["INPUTS_LENGTH"]) and targets.shape == decoder_input_ids.shape
    # further than the 4-minute run gets (about 4.2 nats per target token; the unigram table 5.8)
    assert checkpoint["check_loss"] < 4.0 and checkpoint["val_loss"] < 4.0


def test_checkpoint_check_passes_correct_models_and_fails_wrong_ones(checkpoint):
    """The notebook's check (within 1e-3 of the recorded loss) holds for the solution and for
    correct code written differently, and fails wrong models, by a wide margin or with an error
    (the causal mask in cross-attention does not fit the encoder's length). Cross-attention over
    padding is not among them: the check batch has none (the hidden tests catch that one)."""
    for source in (helpers.cell_source(SOLUTIONS, "TinySeq2Seq_code"), CORRECT["TinySeq2Seq"]):
        assert abs(checkpoint_loss(source, checkpoint) - checkpoint["check_loss"]) < 1e-4
    compared = 0
    for what, source in WRONG["TinySeq2Seq"].items():
        if what == "cross-attention over the encoder's padding":
            continue
        try:
            loss = checkpoint_loss(source, checkpoint)
        except RuntimeError:   # in the notebook too, the check cell stops with this error
            continue
        assert abs(loss - checkpoint["check_loss"]) > 1.0, what
        compared += 1
    assert compared >= 3


def test_missing_checkpoint_says_how_to_build_it(tmp_path, monkeypatch):
    from lmcourse.seq2seq import load_pretrained_checkpoint

    monkeypatch.setenv("LMCOURSE_DATA", str(tmp_path))
    with pytest.raises(FileNotFoundError, match="build_span_corruption_checkpoint.py"):
        load_pretrained_checkpoint()


def test_build_script_saves_what_the_loader_reads(tmp_path, monkeypatch):
    """The build script, with 3 pretraining steps instead of 12,000: the notebook's cells up to
    its pretraining in a fresh kernel, then a checkpoint that the loader reads and whose check
    loss a correct model reproduces."""
    spec = importlib.util.spec_from_file_location("build_span_corruption_checkpoint", BUILD_SCRIPT)
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    report = script.build(tmp_path / "checkpoints" / "span_corruption.pt", steps=3)
    assert report["steps"] == 3
    from lmcourse.seq2seq import load_pretrained_checkpoint

    monkeypatch.setenv("LMCOURSE_DATA", str(tmp_path))   # only now: the notebook above reads the real data
    built = load_pretrained_checkpoint()
    assert built["steps"] == built["pretraining"]["steps"] == 3 and built["pretraining"]["time_budget_s"] is None
    assert built["check_loss"] == report["check_loss"]
    assert abs(checkpoint_loss(CORRECT["TinySeq2Seq"], built) - built["check_loss"]) < 1e-4
