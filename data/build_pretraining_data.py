"""Rebuild data/pretraining/ (notebook 00's web pages) from its source packages:
`python data/build_pretraining_data.py`.

Every file comes from a pinned archive whose sha256 is checked before anything is unpacked:

- the sdist dolma==1.2.1 (Allen Institute for AI, Apache-2.0), fetched by its URL on pip's
  default index (`pip download` cannot fetch it: preparing its metadata builds Rust code):
  two WARC files of a small crawl (37 pages as a crawler stores them), 30 Common Crawl
  documents as text, and the English word list of the "List of Dirty, Naughty, Obscene, and
  Otherwise Bad Words" (LDNOOBW) that dolma filters with;
- the sdist newspaper4k==0.9.6 (MIT): news pages in ten languages with hand-extracted texts,
  pages larger than MAX_PAGE_BYTES left out;
- the wheel justext==3.0.2 (BSD-2-Clause): its English and Vietnamese stop-word lists;
- Debian's libreoffice-help-vi (MPL-2.0), fetched with `apt-get download`: a sample of its
  Vietnamese help pages, which mix Vietnamese with untranslated English. Only the pinned
  version is accepted; once Debian has replaced it, `--keep-vietnamese` rebuilds the rest and
  leaves the shipped pages as they are.

Only the files named below are read out of each archive. The script rewrites
data/pretraining/ (except README.md), writes data/pretraining/MANIFEST.json (each file's
sha256, source, path in its archive and licence) and copies the packages' licences to
data/LICENSES/. Two runs give byte-identical files.
"""
from __future__ import annotations

import argparse
import hashlib
import io
import json
import re
import subprocess
import sys
import tarfile
import tempfile
import urllib.parse
import urllib.request
import zipfile
from pathlib import Path

DATA = Path(__file__).resolve().parent
OUT = DATA / "pretraining"
LICENSES = DATA / "LICENSES"

DOLMA = ("dolma", "dolma-1.2.1.tar.gz", "23eb2511312befd48905b29a21a5e19cc2914f34e641e9904d9d97d583387c94")
NEWSPAPER = ("newspaper4k==0.9.6", "newspaper4k-0.9.6.tar.gz",
             "a3f2f0e017dddb6f1019ee77aaa8980e13e6ecea0b949abc7167aae4770d2d0e")
JUSTEXT = ("justext==3.0.2", "justext-3.0.2-py2.py3-none-any.whl",
           "62b1c562b15c3c6265e121cc070874243a443bfd53060e869393f09d6b6cc9a7")
HELP_VI = ("libreoffice-help-vi", "4:7.4.7-1+deb12u14",
           "fcc4f84cd28d094f8663d1b68b98a7d562f3c71c8beeb71401c4859f1027aaaf")

MAX_PAGE_BYTES = 300_000        # news pages above this are left out (the largest are 2.9 MB of scripts)
VIETNAMESE_PAGES = 30           # help pages kept: every n-th of those between the two sizes below
VIETNAMESE_BYTES = (4_000, 20_000)

DOLMA_FILES = {   # path in data/pretraining -> path in the sdist
    "warc/sample-0000.warc.gz": "dolma-1.2.1/tests/data/warc/sample-0000.warc.gz",
    "warc/sample-0001.warc.gz": "dolma-1.2.1/tests/data/warc/sample-0001.warc.gz",
    "commoncrawl/cc_en_head-0091.jsonl.gz": "dolma-1.2.1/tests/data/multiple_files/cc_en_head-0091.jsonl.gz",
    "commoncrawl/cc_en_head-0174.jsonl.gz": "dolma-1.2.1/tests/data/multiple_files/cc_en_head-0174.jsonl.gz",
    "commoncrawl/provided-000.json.gz": "dolma-1.2.1/tests/data/provided/documents/000.json.gz",
    "wordlists/naughty_words_en.txt": "dolma-1.2.1/python/dolma/data/naughty_words_en.txt",
}
JUSTEXT_FILES = {
    "stoplists/English.txt": "justext/stoplists/English.txt",
    "stoplists/Vietnamese.txt": "justext/stoplists/Vietnamese.txt",
}
NEWS_HTML = "newspaper4k-0.9.6/tests/data/html/"
NEWS_TEXT = "newspaper4k-0.9.6/tests/data/txt/"
HELP_PAGES = "./usr/share/libreoffice/help/vi/text/"

LICENCE_FILES = {   # data/LICENSES/<name> -> (source, path in its archive)
    "dolma-1.2.1-LICENSE.txt": ("dolma", "dolma-1.2.1/LICENSE"),
    "newspaper4k-0.9.6-LICENSE.txt": ("newspaper", "newspaper4k-0.9.6/LICENSE"),
    "justext-3.0.2-LICENSE.rst": ("justext", "justext-3.0.2.dist-info/LICENSE.rst"),
    "libreoffice-help-vi-copyright.txt": ("help_vi", "./usr/share/doc/libreoffice-help-vi/copyright"),
}

LICENCES = {   # what each source's files are under (data/pretraining/README.md says more)
    "dolma": "the pages' own authors' (a crawl redistributed in dolma's Apache-2.0 sdist as test data)",
    "dolma-wordlist": "LDNOOBW (CC BY 4.0, Shutterstock), as redistributed in dolma's Apache-2.0 sdist",
    "newspaper": "the publishers' (news pages redistributed in newspaper4k's MIT sdist as test data)",
    "justext": "BSD-2-Clause (justext)",
    "help_vi": "MPL-2.0 (LibreOffice help, Debian's libreoffice-help-vi)",
}


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def checked(path: Path, expected: str) -> Path:
    got = sha256(path.read_bytes())
    if got != expected:
        raise RuntimeError(f"{path.name}: sha256 {got} differs from the pinned {expected}")
    return path


def fetch_dolma(into: Path) -> Path:
    """The sdist from pip's default index, by the URL its simple page gives (no build)."""
    from pip._internal.models.index import PyPI

    name, filename, expected = DOLMA
    page_url = f"{PyPI.simple_url}/{name}/"
    request = urllib.request.Request(page_url, headers={"Accept": "text/html"})
    page = urllib.request.urlopen(request, timeout=120).read().decode("utf-8")
    links = [link for link in re.findall(r'href="([^"]+)"', page) if link.split("#")[0].endswith("/" + filename)]
    if not links:
        raise RuntimeError(f"{page_url} links no {filename}")
    url = urllib.parse.urljoin(page_url, links[0].split("#")[0])
    path = into / filename
    path.write_bytes(urllib.request.urlopen(url, timeout=600).read())
    return checked(path, expected)


def pip_download(requirement: str, filename: str, expected: str, into: Path) -> Path:
    binary = ["--no-binary", ":all:"] if filename.endswith(".tar.gz") else []
    subprocess.run([sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", *binary,
                    "--dest", str(into), requirement], check=True)
    return checked(into / filename, expected)


def apt_download(into: Path) -> Path:
    package, version, expected = HELP_VI
    subprocess.run(["apt-get", "download", f"{package}={version}"], cwd=into, check=True,
                   capture_output=True)
    (path,) = into.glob(f"{package}_*.deb")
    return checked(path, expected)


def fetch(into: Path, vietnamese: bool = True) -> dict[str, Path]:
    """Every pinned archive, downloaded into `into`: {source: path}."""
    archives = {"dolma": fetch_dolma(into),
                "newspaper": pip_download(*NEWSPAPER, into),
                "justext": pip_download(*JUSTEXT, into)}
    if vietnamese:
        archives["help_vi"] = apt_download(into)
    return archives


# ------------------------------------------------------------------ reading archives
def read_tar(path: Path, wanted) -> dict[str, bytes]:
    """{member name: bytes} of the regular files whose name `wanted(name)` accepts."""
    with tarfile.open(path) as archive:
        return {member.name: archive.extractfile(member).read() for member in archive.getmembers()
                if member.isfile() and wanted(member.name)}


def read_zip(path: Path, names) -> dict[str, bytes]:
    with zipfile.ZipFile(path) as archive:
        return {name: archive.read(name) for name in names}


def read_deb(path: Path, wanted) -> dict[str, bytes]:
    """Files of a .deb (an ar archive holding data.tar.*), read without dpkg."""
    raw = path.read_bytes()
    if not raw.startswith(b"!<arch>\n"):
        raise RuntimeError(f"{path.name} is not a Debian package")
    offset = 8
    while offset < len(raw):
        header = raw[offset:offset + 60]
        name, size = header[:16].decode().strip().rstrip("/"), int(header[48:58].decode().strip())
        body = raw[offset + 60:offset + 60 + size]
        if name.startswith("data.tar"):
            with tarfile.open(fileobj=io.BytesIO(body)) as archive:
                return {member.name: archive.extractfile(member).read() for member in archive.getmembers()
                        if member.isfile() and wanted(member.name)}
        offset += 60 + size + size % 2
    raise RuntimeError(f"{path.name} has no data.tar")


# ------------------------------------------------------------------ building
def build(archives: dict[str, Path], out: Path = OUT, licences: Path = LICENSES) -> dict:
    """Write the data files from the archives into `out` and the licences into `licences`;
    returns the manifest (also written to out/MANIFEST.json). Without "help_vi" in
    `archives`, the Vietnamese pages already in `out` are kept and listed as they are."""
    files: dict[str, tuple[bytes, str, str, str]] = {}   # path -> (content, source, archive path, licence)

    dolma = read_tar(archives["dolma"], lambda name: name in DOLMA_FILES.values() or name == "dolma-1.2.1/LICENSE")
    for target, member in DOLMA_FILES.items():
        licence = LICENCES["dolma-wordlist" if target.startswith("wordlists/") else "dolma"]
        files[target] = (dolma[member], "sdist dolma==1.2.1", member, licence)

    news = read_tar(archives["newspaper"], lambda name: name.startswith((NEWS_HTML, NEWS_TEXT))
                    or name == "newspaper4k-0.9.6/LICENSE")
    for member, content in sorted(news.items()):
        if member.startswith(NEWS_HTML) and member.endswith(".html"):
            stem = member[len(NEWS_HTML):-len(".html")]
            if len(content) <= MAX_PAGE_BYTES and NEWS_TEXT + stem + ".txt" in news:
                files[f"news/html/{stem}.html"] = (content, "sdist newspaper4k==0.9.6", member, LICENCES["newspaper"])
        elif member.startswith(NEWS_TEXT) and member.endswith(".txt"):
            target = "news/gold/" + member[len(NEWS_TEXT):]
            files[target] = (content, "sdist newspaper4k==0.9.6", member, LICENCES["newspaper"])

    justext = read_zip(archives["justext"], [*JUSTEXT_FILES.values(), "justext-3.0.2.dist-info/LICENSE.rst"])
    for target, member in JUSTEXT_FILES.items():
        files[target] = (justext[member], "wheel justext==3.0.2", member, LICENCES["justext"])

    help_vi_copyright = None
    if "help_vi" in archives:
        pages = read_deb(archives["help_vi"], lambda name: name.startswith(HELP_PAGES) and name.endswith(".html")
                         or name == LICENCE_FILES["libreoffice-help-vi-copyright.txt"][1])
        help_vi_copyright = pages.pop(LICENCE_FILES["libreoffice-help-vi-copyright.txt"][1])
        low, high = VIETNAMESE_BYTES
        sized = sorted(name for name, content in pages.items() if low <= len(content) <= high)
        step = len(sized) // VIETNAMESE_PAGES
        for member in sized[::step][:VIETNAMESE_PAGES]:
            target = "vietnamese/" + member[len(HELP_PAGES):].replace("/", "_")
            files[target] = (pages[member], f"Debian {HELP_VI[0]}={HELP_VI[1]}", member.lstrip("./"),
                             LICENCES["help_vi"])
    else:
        kept = json.loads((out / "MANIFEST.json").read_text(encoding="utf-8"))["files"]
        for target, entry in kept.items():
            if target.startswith("vietnamese/"):
                files[target] = ((out / target).read_bytes(), entry["source"], entry["archive_path"], entry["licence"])

    # Write everything afresh (README.md is kept by hand).
    for old in sorted(out.glob("**/*"), reverse=True):
        if old.is_file() and old.name != "README.md" and old.relative_to(out).as_posix() not in files:
            old.unlink()
        elif old.is_dir() and not any(old.iterdir()):
            old.rmdir()
    manifest = {"files": {}}
    for target in sorted(files):
        content, source, member, licence = files[target]
        path = out / target
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(content)
        manifest["files"][target] = {"bytes": len(content), "sha256": sha256(content), "source": source,
                                     "archive_path": member, "licence": licence}
    (out / "MANIFEST.json").write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")

    licences.mkdir(parents=True, exist_ok=True)
    licence_texts = {"dolma-1.2.1-LICENSE.txt": dolma[LICENCE_FILES["dolma-1.2.1-LICENSE.txt"][1]],
                     "newspaper4k-0.9.6-LICENSE.txt": news[LICENCE_FILES["newspaper4k-0.9.6-LICENSE.txt"][1]],
                     "justext-3.0.2-LICENSE.rst": justext[LICENCE_FILES["justext-3.0.2-LICENSE.rst"][1]]}
    if help_vi_copyright is not None:
        licence_texts["libreoffice-help-vi-copyright.txt"] = help_vi_copyright
    for name, content in licence_texts.items():
        (licences / name).write_bytes(content)
    return manifest


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--keep-vietnamese", action="store_true",
                        help="do not fetch Debian's package: keep the shipped Vietnamese pages")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        archives = fetch(Path(folder), vietnamese=not args.keep_vietnamese)
        manifest = build(archives)
    total = sum(entry["bytes"] for entry in manifest["files"].values())
    print(f"wrote {len(manifest['files'])} files, {total / 1e6:.2f} MB, to {OUT}")


if __name__ == "__main__":
    main()
