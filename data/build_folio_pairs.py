"""Align First Folio lines with their modern-spelling lines:
`python data/build_folio_pairs.py` writes shakespeare/aligned/folio_modern.tsv.

Notebook 04 fine-tunes an encoder-decoder to turn Folio spelling into modern
spelling ("Vpon a fearfull Summons. I haue heard," -> "Upon a fearful summons.
I have heard,"). The two editions break verse into the same lines but differ
in almost everything else: the Folio puts the speaker's name in front of a
speech's first line, the modern edition on a line of its own; stage
directions differ; editors changed spelling, capitals and punctuation. So the
lines are aligned through their words:

1. Each play becomes a stream of words in both spellings, each word tagged
   with its line. Stage directions (modern: in brackets), speaker headings
   (modern: a paragraph's short first line; Folio: "Ham." before a speech) and
   act/scene headings are left out.
2. Words are compared in a spelling-blind form: lower case, letters only, the
   Folio's u/v and i/j merged, y read as i, doubled letters single, a final e
   dropped ("Vpon" = "upon", "haue" = "have", "fearfull" = "fearful").
3. difflib matches the two word streams (longest common blocks, recursively).
4. A Folio line and a modern line are a pair when their first words match
   each other, their last words match each other, and at least half of the
   longer line's words are matched inside the pair. A line whose edges moved
   (a word carried to the next line, an edited first word) is left out, so
   every pair says the same words in both spellings.

Plays stay apart between splits, so the test lines come from plays the model
never saw, in either spelling: `SPLITS` below. Output columns, tab-separated,
with a header: split, play (modern name), folio line, modern line.
"""
from __future__ import annotations

import difflib
import json
import re
import sys
from pathlib import Path

DATA = Path(__file__).resolve().parent
OUT = DATA / "shakespeare" / "aligned" / "folio_modern.tsv"

# Held-out plays: three tragedies for the test set, a comedy for validation
# (the curve during fine-tuning); every other play is training data.
SPLITS = {"hamlet": "test", "macbeth": "test", "julius_caesar": "test", "twelfth_night": "val"}

MIN_MATCHED_FRACTION = 0.5
MODERN_HEADING = re.compile(r"^(ACT|SCENE|Scene|Act)\b|^[A-Z][A-Za-z' .&-]{0,40}\.$")
FOLIO_HEADING = re.compile(r"^(Actus|Actvs|Scena|Scoena|Scæna|Sce)\w*\b", re.IGNORECASE)
# A speech's first line in the Folio: indented, then the speaker's abbreviated
# name ending in a period ("  Ham.", "   1.", "  Lady M.", "  1.Murth.").
FOLIO_SPEAKER = re.compile(r"^\s+(?:[\w'æ]+\.\s?){1,2}\s*")
WORD = re.compile(r"\S+")


def normalize(word: str) -> str:
    """The spelling-blind form of a word used only for matching.

    normalize("Vpon") -> "upon", normalize("haue") == normalize("have") == "hau"
    """
    w = re.sub(r"[^a-z]", "", word.lower().replace("æ", "ae"))
    w = w.replace("v", "u").replace("j", "i").replace("y", "i")
    w = re.sub(r"(.)\1+", r"\1", w)
    return w[:-1] if len(w) > 2 and w.endswith("e") else w


def modern_lines(text: str) -> list[str | None]:
    """Every line of a modern play; None where the line is not speech."""
    lines = text.split("\n")
    out: list[str | None] = []
    # Square brackets hold stage directions, some over several lines; a
    # blank line ends one whose "]" the edition forgot.
    depth = 0
    for i, line in enumerate(lines):
        stripped = line.strip()
        starts_paragraph = i == 0 or not lines[i - 1].strip()
        inside = depth > 0 or "[" in stripped
        depth = max(0, depth + stripped.count("[") - stripped.count("]")) if stripped else 0
        if inside:
            out.append(None)
            continue
        if not stripped or (starts_paragraph and MODERN_HEADING.match(stripped)):
            out.append(None)
            continue
        out.append(stripped)
    return out


def folio_lines(text: str) -> list[str | None]:
    """Every line of a Folio play, speaker prefixes cut; None where not speech."""
    out: list[str | None] = []
    for line in text.split("\n"):
        if not line.strip() or FOLIO_HEADING.match(line.strip()):
            out.append(None)
            continue
        speaker = FOLIO_SPEAKER.match(line) if line[:1].isspace() else None
        speech = line[speaker.end():] if speaker else line
        out.append(speech.strip() or None)
    return out


def word_stream(lines: list[str | None]) -> tuple[list[str], list[int], dict[int, tuple[int, int]]]:
    """Normalized words, the line each came from, and each line's word range."""
    words, line_of, span = [], [], {}
    for number, line in enumerate(lines):
        if line is None:
            continue
        start = len(words)
        for token in WORD.findall(line):
            form = normalize(token)
            if form:
                words.append(form)
                line_of.append(number)
        if len(words) > start:
            span[number] = (start, len(words))
    return words, line_of, span


def align_play(modern_text: str, folio_text: str) -> list[tuple[str, str]]:
    """(folio line, modern line) pairs of one play, in play order."""
    modern, folio = modern_lines(modern_text), folio_lines(folio_text)
    m_words, m_line_of, m_span = word_stream(modern)
    f_words, f_line_of, f_span = word_stream(folio)
    matcher = difflib.SequenceMatcher(None, m_words, f_words, autojunk=False)
    partner = {}  # modern word index -> folio word index
    for block in matcher.get_matching_blocks():
        for k in range(block.size):
            partner[block.a + k] = block.b + k

    pairs = []
    for m_number, (m_start, m_end) in m_span.items():
        if m_start not in partner or m_end - 1 not in partner:
            continue
        f_number = f_line_of[partner[m_start]]
        f_start, f_end = f_span[f_number]
        if partner[m_start] != f_start or partner[m_end - 1] != f_end - 1:
            continue
        matched = sum(1 for j in range(m_start, m_end) if j in partner)
        if matched < MIN_MATCHED_FRACTION * max(m_end - m_start, f_end - f_start):
            continue
        pairs.append((folio[f_number], modern[m_number]))
    return pairs


def main() -> None:
    sys.path.insert(0, str(DATA.parent))
    from lmcourse.data import load_plays, play_pairs

    modern_plays, folio_plays = load_plays("modern"), load_plays("folio")
    pairing = play_pairs()
    unknown = set(SPLITS) - set(pairing)
    if unknown:
        raise RuntimeError(f"held-out plays not in both spellings: {sorted(unknown)}")
    OUT.parent.mkdir(parents=True, exist_ok=True)
    counts: dict[str, int] = {}
    with open(OUT, "w", encoding="utf-8", newline="\n") as file:
        file.write("split\tplay\tfolio\tmodern\n")
        for modern_name, folio_name in sorted(pairing.items()):
            pairs = align_play(modern_plays[modern_name], folio_plays[folio_name])
            split = SPLITS.get(modern_name, "train")
            counts[split] = counts.get(split, 0) + len(pairs)
            for folio_line, modern_line in pairs:
                if "\t" in folio_line + modern_line:
                    raise RuntimeError(f"tab inside a line of {modern_name}")
                file.write(f"{split}\t{modern_name}\t{folio_line}\t{modern_line}\n")
            print(f"{modern_name:32s} {len(pairs):5d} pairs ({split})")
    print(f"{OUT.relative_to(DATA)}: " + json.dumps(counts))


if __name__ == "__main__":
    main()
