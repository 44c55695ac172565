"""RESULTS.md is written by `make bench`: a run replaces its benchmarks'
sections, keeps the others' and the archive, and says when, where and how."""
import pytest

from bench import results


@pytest.fixture
def results_file(tmp_path, monkeypatch):
    path = tmp_path / "RESULTS.md"
    monkeypatch.setattr(results, "RESULTS", path)
    return path


def test_a_run_replaces_its_sections_and_keeps_the_rest(results_file):
    results_file.write_text("old header\n\n## Archive\n\n| an old row |\n")
    row = {"benchmark": "b", "seconds": 1.5, "ok": True}
    results.update({"bench.a": results.section("bench.a", [row], 0.0, 1.0, "fixed"),
                    "bench.b": results.section("bench.b", [row], 0.0, 1.0, "fixed")}, ["bench.a", "bench.b"])
    first = results_file.read_text()
    assert first.startswith(results.HEADER) and first.endswith("## Archive\n\n| an old row |\n")
    assert "| b | 1.50 | yes |" in first and "seed: fixed" in first and "load 1.0 before" in first
    results.update({"bench.b": results.section("bench.b", [{**row, "seconds": 9.0}], 0.0, 2.0, "fixed")},
                   ["bench.a", "bench.b"])
    second = results_file.read_text()
    assert second.count("<!-- bench:bench.a -->") == 1 and second.count("<!-- bench:bench.b -->") == 1
    assert "| b | 1.50 | yes |" in second and "| b | 9.00 | yes |" in second
    assert second.index("bench:bench.a") < second.index("bench:bench.b") < second.index("## Archive")


def test_each_section_names_its_commit_and_machine(results_file):
    text = results.section("bench.a", [{"x": 1}], 0.0, 0.5, "none")
    facts = results.conditions()
    assert facts["commit"] in text and facts["machine"] in text and "cores" in facts["machine"]


def test_repeated_runs_merge_into_ranges():
    from bench import merge_runs
    first = [{"benchmark": "run", "seconds": 451.2, "accuracy": 0.1403, "device": "cpu", "ok": True}]
    second = [{"benchmark": "run", "seconds": 459.9, "accuracy": 0.143, "device": "cpu", "ok": False}]
    (row,) = merge_runs([first, second])
    assert row == {"benchmark": "run", "seconds": "451-460", "accuracy": "0.140-0.143", "device": "cpu",
                   "ok": False, "runs": 2}
    # A target met in every run stays met; rows that do not line up are refused.
    assert merge_runs([first, first])[0]["ok"] is True
    with pytest.raises(ValueError):
        merge_runs([first, first + first])
