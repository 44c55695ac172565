"""bench/span_corruption_transfer.py, run end to end with a handful of steps: it overrides settings
of the solution notebook's parameters cell (so a renamed setting fails here, not half an hour into
the benchmark), fine-tunes both models at every learning rate, picks each one's by validation loss
alone, and reports the encoder diagnostics."""
import math

from bench import span_corruption_transfer


def test_sweeps_every_learning_rate_for_both_models(monkeypatch):
    monkeypatch.setattr(span_corruption_transfer, "PRETRAIN_STEPS", 5)
    monkeypatch.setattr(span_corruption_transfer, "FINETUNE_STEPS", 5)
    monkeypatch.setattr(span_corruption_transfer, "PROBE_WINDOWS", 4)
    monkeypatch.setattr(span_corruption_transfer, "PROBE_STEPS", 2)
    rows = span_corruption_transfer.run()
    *sweep, summary, probe, attention = rows
    rates = span_corruption_transfer.LEARNING_RATES
    assert len(sweep) == 2 * len(rates)
    for name in ("pretrained", "from scratch"):
        runs = [row for row in sweep if f": {name}, lr " in row["benchmark"]]
        assert sorted(float(row["benchmark"].rsplit(" ", 1)[1]) for row in runs) == sorted(rates)
        assert all("after 5 pretraining steps" in row["benchmark"] for row in runs)
        best = min(runs, key=lambda row: row["val_loss"])
        key = "pretrained" if name == "pretrained" else "scratch"
        assert summary[f"{key}_lr"] == best["benchmark"].rsplit(" ", 1)[1]
        assert math.isclose(summary[key], best["test_cer_pct"])
    assert summary["ok"] == (summary["pretrained"] < summary["scratch"])
    assert 0 <= probe["pretrained"] <= 1 and 0 <= probe["baseline_probe"] <= 1
    weights = [float(weight) for weight in attention["pretrained"].split(" / ")]
    assert len(weights) == 2 and all(0 < weight <= 1 for weight in weights)   # one per decoder layer
    assert attention["baseline_weight"] == 1 / 64
