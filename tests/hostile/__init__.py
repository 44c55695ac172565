"""A corpus of hostile and broken submissions of notebook 01, for the grader.

Each `Hostile` is built from the notebook's definitions (its exercises, its
imports and the helper cell they need; what a grader runs anyway, without the
visible checks and demos) plus one cell, a replaced cell, or a damaged file.
`tries` says what it attempts; `lose` names the exercises it must score zero
on (a cheat always comes with a wrong implementation of what it hopes to
pass off), and every other exercise must still pass: a runaway cell costs
only what it defines. `requires` names the containments the case needs to
be safe, and meaningful, to run (CONTAINMENTS says what each means); a
sandbox mode that lacks one of them never runs the case.

    paths = build(Context(...), lean_notebook(folder), CORPUS)   # {name: path}
"""
import json
from dataclasses import dataclass
from pathlib import Path

import helpers
from wrong.tokenization import WRONG

NOTEBOOK = "01_tokenization"
SOLUTIONS = helpers.solutions_notebook(NOTEBOOK)
# Besides the exercises, the cells a grader needs: imports, and the helper
# train_bpe calls.
DEFINITION_CELLS = ("import heapq", "def split_on_special_tokens")
EXERCISES = ("pretokenize", "get_pair_counts", "merge_pair", "train_bpe", "BPETokenizer")
ALL = frozenset(EXERCISES)
UNIDENTIFIED = "unidentified"   # `lose` of a file no notebook can be told from: one row


# What a case may need of the sandbox; which mode gives which is the test's
# business (test_hostile.containment).
CONTAINMENTS = {
    "private grader files": "the grader's package (hidden checks, references), its secret and "
                            "solutions cannot be read",
    "own view of files": "none of the machine's files beyond what a notebook needs can be read, "
                         "whatever their permissions (another student's submission)",
    "read-only outside": "no file outside its own folder can be changed",
    "own processes only": "signals reach only its own processes",
    "no network": "no network, not even the grader host's loopback",
    "size-capped scratch": "its working folder is small and in memory",
    "process cap": "a cap on its processes",
    "memory cap": "a cap on all its processes' memory together",
}


@dataclass(frozen=True)
class Context:
    """Paths and ports a hostile cell aims at, outside its own folder."""
    folder: Path          # where the corpus is written, one folder per case
    sentinel: Path        # a file no submission may change
    gradebook: Path       # a stand-in gradebook (sqlite) no submission may change
    honest: Path          # another student's submission, which no one may read
    port: int             # a server on the grader host's loopback
    marker: str           # put in the command line of every process a case starts
    grader: Path          # the package of the grader that grades the corpus (hidden checks, references)
    secrets: tuple        # the files the grader may read its secret from
    solutions: Path = None  # the solutions of the grader's checkout, if it runs from one
    # Where a mode leaves in view every file all users may read (unprivileged),
    # the grader's own private places: a hunt's find counts only under them.
    # Empty: every find counts.
    private: tuple = ()


@dataclass(frozen=True)
class Hostile:
    name: str
    tries: str
    build: object                 # (Context, lean notebook, folder) -> path
    lose: frozenset = frozenset()
    requires: frozenset = frozenset()   # names from CONTAINMENTS

    def __post_init__(self):
        assert set(self.requires) <= set(CONTAINMENTS), self.requires


def wrong(exercise, what):
    return WRONG[exercise][what]


def appended(*cells):
    return lambda ctx, lean, folder: helpers.variant(lean, folder, append=[c(ctx) if callable(c) else c
                                                                          for c in cells])


def replaced(**cells):
    return lambda ctx, lean, folder: helpers.variant(lean, folder, replace={
        f"{exercise}_code": source(ctx) if callable(source) else source for exercise, source in cells.items()})


def rewritten(change):
    """A copy of the lean notebook's JSON, changed by `change(notebook dict)`."""
    def build(ctx, lean, folder):
        notebook = json.loads(lean.read_text())
        change(notebook)
        return written(folder / lean.name, json.dumps(notebook, indent=1).encode())
    return build


def raw(name, content):
    """A file of these bytes; `content` may be a function of the lean notebook's bytes."""
    return lambda ctx, lean, folder: written(
        folder / name, content(lean.read_bytes()) if callable(content) else content)


def written(path, data):
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


# ------------------------------------------------------------ damaged files
def to_nbformat3(notebook):
    notebook.update(nbformat=3, nbformat_minor=0, worksheets=[{"cells": [
        {"cell_type": "code", "input": cell["source"], "language": "python", "outputs": [],
         "metadata": {}} for cell in notebook.pop("cells")]}])


def as_colab_saves(notebook):
    """Colab's metadata: its own ids and provenance, no nbgrader metadata."""
    notebook["metadata"] = {"colab": {"provenance": [], "name": "01_tokenization.ipynb"},
                            "accelerator": "GPU", "kernelspec": {"name": "python3", "display_name": "Python 3"}}
    notebook["nbformat_minor"] = 0
    for number, cell in enumerate(notebook["cells"]):
        cell["metadata"] = {"id": f"colab{number:04d}"}
        cell.pop("id", None)


def without(*exercises):
    def change(notebook):
        notebook["cells"] = [cell for cell in notebook["cells"] if helpers.grade_id(cell) not in
                             {f"{exercise}_code" for exercise in exercises}]
    return change


def exercises_last(notebook):
    """The exercise cells after everything else (and in reverse order)."""
    is_exercise = [helpers.grade_id(cell) in {f"{e}_code" for e in EXERCISES} for cell in notebook["cells"]]
    notebook["cells"] = ([c for c, ex in zip(notebook["cells"], is_exercise) if not ex]
                         + [c for c, ex in zip(notebook["cells"], is_exercise) if ex][::-1])


def renamed(old, new):
    def change(notebook):
        for cell in notebook["cells"]:
            if helpers.grade_id(cell) == f"{old}_code":
                cell["source"] = "".join(cell["source"]).replace(f"def {old}(", f"def {new}(")
    return change


def latin1_comment(data):
    """A comment in Latin-1 (not UTF-8) bytes inside the first cell's source."""
    return data.replace(b'"import heapq', b'"# caf\xe9 cr\xe8me\\nimport heapq', 1)


# ---------------------------------------------------------- hostile cells
TRANSFORMER_CHEAT = """
def _never_assert(lines):
    return [line.replace('assert ', 'if False: assert ', 1) if line.lstrip().startswith('assert ')
            else line for line in lines]
get_ipython().input_transformers_post.append(_never_assert)
assert False, "an assert that no longer runs"
"""
AST_CHEAT = """
import ast
class _DropAsserts(ast.NodeTransformer):
    def visit_Assert(self, node):
        return ast.Pass()
get_ipython().ast_transformers.append(_DropAsserts())
"""
LYING_EQ = """
class _EqualToEverything:
    def __eq__(self, other):
        return True
    __hash__ = object.__hash__

def get_pair_counts(words):
    return _EqualToEverything()
"""
LYING_LIST = """
class _ListEqualToEverything(list):
    def __eq__(self, other):
        return True

def pretokenize(text):
    return _ListEqualToEverything(text.split())
"""
LYING_STR = """
class _TextEqualToEverything(str):
    def __eq__(self, other):
        return True
    __hash__ = str.__hash__

class BPETokenizer(BPETokenizer):
    def decode(self, ids):
        return _TextEqualToEverything("?")
"""
TENSOR_SUBCLASS = """
import torch

class _TensorEqualToEverything(torch.Tensor):
    def __eq__(self, other):
        return True

_solution_train_bpe = train_bpe

def train_bpe(text, vocab_size, special_tokens=()):
    vocab, merges = _solution_train_bpe(text, vocab_size, special_tokens)
    return vocab, torch.zeros(len(merges)).as_subclass(_TensorEqualToEverything)
"""
CLASS_SPOOF = """
class _PretendsToBeATuple:
    __class__ = tuple
    def __iter__(self):
        return iter(())
    def __eq__(self, other):
        return True

def merge_pair(ids, pair, new_id):
    return _PretendsToBeATuple()
"""
WORKER_PATCHED = """
import sys
_wire = sys.modules["wire"]
_wire.encode = lambda value, make_handle=None, depth=0: {"__dict__": []}
_wire.decode = lambda data, resolve_handle=None, depth=0: ()
"""
FORGED_REPLY = """
import json, os, struct, sys
_payload = json.dumps({"ok": {"merge_pair": "function"}}).encode()
os.write(int(sys.argv[2]), struct.pack(">Q", len(_payload)) + _payload)
"""
CLOSES_PIPES = """
import os, sys
os.close(int(sys.argv[1]))
os.close(int(sys.argv[2]))
"""
FORK_BOMB_RAISES = """
import os
while True:
    os.fork()
"""
# Every process keeps forking, whatever fork says, and defines the exercise
# only if the bomb ever stops.
FORK_BOMB_SPINS = """
import os
while True:
    try:
        os.fork()
    except OSError:
        pass
""" + wrong("merge_pair", "right to left")
MEMORY_BOMB = """
_chunks = []
while True:
    _chunks.append(bytearray(256 * 1024 * 1024))
"""
FORKED_MEMORY_BOMB = """
import os, time
for _ in range(3):
    if os.fork() == 0:
        _chunk = b"\\x01" * (3 * 1024**3)   # written, so really resident
        time.sleep(30)
        os._exit(0)
time.sleep(5)
"""
FILLS_ITS_DISK = """
for number in range(100):
    with open(f"filler{number}", "wb") as file:
        file.write(b"x" * 60 * 1024 * 1024)
"""
HUGE_FILE = """
with open("huge", "wb") as file:
    file.write(b"x" * 100 * 1024 * 1024)
"""
PRINTS_100MB = """
print("x" * 100_000_000)
"""
HUGE_ANSWER = """
def pretokenize(text):
    return ["x" * 40_000_000]
"""
OVERSIZED_REPLY = """
def get_pair_counts(words):
    return {(1, 2): b"x" * (80 * 1024 * 1024)}
"""
INFINITE_LOOP = """
while True:
    pass
"""
EXITS_IN_A_CALL = """
import os
def merge_pair(ids, pair, new_id):
    os._exit(0)
"""
INTERRUPTED_CALL = """
def pretokenize(text):
    raise KeyboardInterrupt
"""
KILLS_EVERYONE = """
import os, signal
os.kill(-1, signal.SIGKILL)
"""


def detached_writer(ctx):
    """A daemon (double fork, new session) that outlives the cell and keeps
    writing the gradebook, as the process that scored 10 out of 5 did."""
    return f"""
import os, sqlite3, sys, time
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        sys.argv[0] = {ctx.marker!r}
        os.execv(sys.executable, [sys.executable, "-c",
            "import sqlite3, time\\n"
            "while True:\\n"
            "    try:\\n"
            "        db = sqlite3.connect({str(ctx.gradebook)!r})\\n"
            "        db.execute('UPDATE grade SET score = 10')\\n"
            "        db.commit()\\n"
            "    except Exception:\\n"
            "        pass\\n"
            "    time.sleep(0.2)\\n", {ctx.marker!r}])
    os._exit(0)
"""


def reads_the_grader(ctx):
    """merge_pair is right only if the sandbox shows the hidden checks, the
    references, the secret or the solutions where the grader keeps them."""
    places = [ctx.grader / "hidden" / "tokenization.py", ctx.grader / "reference", *ctx.secrets]
    if ctx.solutions:
        places.append(ctx.solutions / f"{NOTEBOOK}.ipynb")
    return f"""
_solution_merge_pair = merge_pair
{wrong("merge_pair", "first occurrence only")}
import os, sys
_leaked = []
for _path in {[str(p) for p in places]!r}:
    try:
        _leaked.append(open(_path, "rb").read() if os.path.isfile(_path) else os.listdir(_path))
    except OSError:
        pass
sys.path.insert(0, {str(ctx.grader.parent)!r})
try:
    from autograder.reference.tokenization import merge_pair as _reference_merge_pair
except ImportError:
    _reference_merge_pair = None
_leaked.append(os.environ.get("AUTOGRADER_SECRET"))
if _reference_merge_pair is not None or any(_leaked):
    merge_pair = _solution_merge_pair
"""


HUNT = (Path(__file__).parent / "hunt.py").read_text()


# Before the hunt, in a cell of its own: a hunt that raises or runs out of
# time leaves merge_pair wrong, and pretokenize too, which hunts_the_grader
# puts right only once the hunt has run to its end.
BEFORE_THE_HUNT = f"""
_solution_merge_pair, _solution_pretokenize = merge_pair, pretokenize
{wrong("merge_pair", "right to left")}
{wrong("pretokenize", "no contractions")}
"""


def hunts_the_grader(ctx):
    """merge_pair is right only if hunt.py finds any of the grader's private
    files (see hunt.py for where it looks); pretokenize is right only if the
    hunt runs to its end, so a hunt that never finishes fails the case."""
    return HUNT + after_the_hunt(ctx)


def after_the_hunt(ctx):
    """What the hunt's cell runs once hunt.py has left its finds in `_found`."""
    return f"""
_private = [os.path.realpath(_place) for _place in {[str(p) for p in ctx.private]!r}]


def _counts(find):
    \"\"\"A file under the grader's private places (every file, where none are
    given), or what is not a file: the secret in an environment, an import.\"\"\"
    if not _private or not os.path.exists(find):
        return True
    real = os.path.realpath(find)
    return any(real == place or real.startswith(place.rstrip(os.sep) + os.sep) for place in _private)


pretokenize = _solution_pretokenize
if any(_counts(find) for find in _found):
    merge_pair = _solution_merge_pair
"""


def reads_another_student(ctx):
    return f"""
import json
try:
    _their = json.load(open({str(ctx.honest)!r}))
    exec("".join(next(c["source"] for c in _their["cells"] if "def pretokenize" in "".join(c["source"]))))
    _copied = True
except Exception:
    _copied = False
if not _copied:
{_indented(wrong("pretokenize", "no contractions"))}
"""


def writes_outside(ctx):
    """Appends to and deletes the test's own files; only touches (a harmless
    change, should it ever succeed) the grader's."""
    return f"""
import os
for _path in {[str(p) for p in (ctx.sentinel, ctx.gradebook, ctx.honest)]!r}:
    try:
        with open(_path, "a") as _file:
            _file.write("written by a submission")
    except OSError:
        pass
    try:
        os.remove(_path)
    except OSError:
        pass
for _path in {[str(p) for p in grader_files(ctx)]!r}:
    try:
        os.utime(_path)
    except OSError:
        pass
"""


def grader_files(ctx):
    """The grader's own files a submission must never change."""
    return [ctx.grader / "grade.py", ctx.grader / "hidden" / "tokenization.py", *ctx.secrets,
            *([ctx.solutions / f"{NOTEBOOK}.ipynb"] if ctx.solutions else [])]


def asks_the_network(ctx):
    """get_pair_counts is right only if a helper on the host answers."""
    return f"""
import socket
try:
    with socket.create_connection(("127.0.0.1", {ctx.port}), timeout=2) as _connection:
        _connection.sendall(b"answers please")
    _reached = True
except OSError:
    _reached = False
_solution_get_pair_counts = get_pair_counts
{wrong("get_pair_counts", "ignores word frequencies")}
if _reached:
    get_pair_counts = _solution_get_pair_counts
"""


def _indented(source):
    return "\n".join("    " + line for line in source.splitlines())


CORPUS = [
    # --- comparisons patched or lied to
    Hostile("patched torch comparisons", "torch.allclose/equal/isclose made always true",
            appended("import torch\ntorch.allclose = lambda *a, **k: True\ntorch.equal = lambda *a, **k: True\n"
                     "torch.isclose = lambda a, b, **k: torch.ones_like(a, dtype=torch.bool)",
                     wrong("merge_pair", "right to left")), frozenset({"merge_pair"})),
    Hostile("patched torch.testing", "torch.testing.assert_close made a no-op",
            appended("import torch\ntorch.testing.assert_close = lambda *a, **k: None",
                     wrong("get_pair_counts", "misses the last pair")), frozenset({"get_pair_counts"})),
    Hostile("patched numpy.testing", "numpy's testing and comparisons made to agree",
            appended("import numpy, numpy.testing\nnumpy.testing.assert_array_equal = lambda *a, **k: None\n"
                     "numpy.testing.assert_allclose = lambda *a, **k: None\nnumpy.array_equal = lambda *a, **k: True",
                     wrong("pretokenize", "no contractions")), frozenset({"pretokenize"})),
    Hostile("IPython input transformer", "asserts rewritten away before each cell runs",
            appended(TRANSFORMER_CHEAT, wrong("merge_pair", "overlapping occurrences")), frozenset({"merge_pair"})),
    Hostile("IPython AST transformer", "assert statements removed from every cell",
            appended(AST_CHEAT, wrong("pretokenize", "splits on whitespace, dropping it")),
            frozenset({"pretokenize"})),
    Hostile("lying __eq__", "an answer equal to everything", appended(LYING_EQ), frozenset({"get_pair_counts"})),
    Hostile("lying list subclass", "a list subclass equal to everything", appended(LYING_LIST),
            frozenset({"pretokenize"})),
    Hostile("lying str subclass", "decode returns a str subclass equal to everything", appended(LYING_STR),
            frozenset({"BPETokenizer"})),
    Hostile("tensor subclass", "merges as a tensor subclass equal to everything", appended(TENSOR_SUBCLASS),
            frozenset({"train_bpe"})),
    Hostile("__class__ spoof", "an object claiming to be a tuple", appended(CLASS_SPOOF),
            frozenset({"merge_pair"})),
    Hostile("worker patched", "the worker's own encoder and decoder replaced", appended(WORKER_PATCHED), ALL),
    Hostile("forged reply", "a frame written straight to the grader's pipe", appended(FORGED_REPLY), ALL),
    Hostile("pipes closed", "the worker's pipes to the grader closed", appended(CLOSES_PIPES)),
    # --- leaving the sandbox
    Hostile("reads the grader", "hidden tests, references, secret, solutions read or imported",
            appended(reads_the_grader), frozenset({"merge_pair"}), requires=frozenset({"private grader files"})),
    Hostile("hunts the grader", "the hidden checks, references, solutions and secret searched for through "
            "sys.prefix, site-packages, sys.path, importlib, /proc and the environment (pretokenize stays right "
            "only if the hunt runs to its end)", appended(BEFORE_THE_HUNT, hunts_the_grader),
            frozenset({"merge_pair"}), requires=frozenset({"private grader files"})),
    Hostile("reads another student", "another submission's pretokenize copied",
            appended(reads_another_student), frozenset({"pretokenize"}), requires=frozenset({"own view of files"})),
    Hostile("writes outside", "a sentinel, the gradebook and another submission appended to and deleted; "
            "the solutions, the secret and the grader touched", appended(writes_outside),
            requires=frozenset({"read-only outside"})),
    Hostile("detached gradebook writer", "a daemon in its own session writing the gradebook with sqlite3",
            appended(detached_writer), requires=frozenset({"read-only outside"})),
    Hostile("network", "a socket to the grader host's 127.0.0.1", appended(asks_the_network),
            frozenset({"get_pair_counts"}), requires=frozenset({"no network"})),
    Hostile("kill -1", "SIGKILL to every process it may signal", appended(KILLS_EVERYONE),
            requires=frozenset({"own processes only"})),
    # --- the process, stopped or flooded
    Hostile("os._exit in a cell", "the worker killed while the notebook runs", appended("import os\nos._exit(3)")),
    Hostile("os._exit in a call", "the worker killed while merge_pair is checked", appended(EXITS_IN_A_CALL),
            frozenset({"merge_pair"})),
    Hostile("sys.exit", "SystemExit from a cell", appended("import sys\nsys.exit(1)")),
    Hostile("KeyboardInterrupt in a call", "KeyboardInterrupt while pretokenize is checked",
            appended(INTERRUPTED_CALL), frozenset({"pretokenize"})),
    Hostile("infinite loop", "a cell that never ends", appended(INFINITE_LOOP)),
    Hostile("memory bomb", "memory allocated until none is left", appended(MEMORY_BOMB)),
    Hostile("forked memory bomb", "three processes of 3 GiB each, more than the worker's total",
            appended(FORKED_MEMORY_BOMB), requires=frozenset({"memory cap"})),
    Hostile("fork bomb", "os.fork() in a loop", appended(FORK_BOMB_RAISES), requires=frozenset({"process cap"})),
    Hostile("spinning fork bomb", "a fork bomb that never stops, in merge_pair's cell",
            replaced(merge_pair=FORK_BOMB_SPINS), frozenset({"merge_pair"}),
            requires=frozenset({"process cap"})),
    Hostile("fills its disk", "files written until its folder is full", appended(FILLS_ITS_DISK),
            requires=frozenset({"size-capped scratch"})),
    Hostile("huge file", "one 100 MB file", appended(HUGE_FILE)),
    Hostile("prints 100 MB", "100 MB printed by a cell", appended(PRINTS_100MB)),
    Hostile("40 MB answer", "pretokenize answers with a 40 MB string", appended(HUGE_ANSWER),
            frozenset({"pretokenize"})),
    Hostile("oversized reply", "an answer of 107 MB, more than the grader reads", appended(OVERSIZED_REPLY),
            frozenset({"get_pair_counts"})),
    # --- damaged or unusual files
    Hostile("invalid JSON", "a notebook cut in half", raw("01_tokenization.ipynb", lambda data: data[:len(data) // 2]),
            ALL),
    Hostile("binary garbage", "not a notebook, under an unknown name", raw("homework.ipynb", b"\x89PNG\r\n\x1a\n\x00"),
            UNIDENTIFIED),
    Hostile("nbformat 3", "the notebook saved as nbformat 3", rewritten(to_nbformat3)),
    Hostile("saved by Colab", "Colab's metadata, no nbgrader metadata", rewritten(as_colab_saves)),
    Hostile("deleted cells", "merge_pair's and pretokenize's cells deleted",
            rewritten(without("merge_pair", "pretokenize")), frozenset({"merge_pair", "pretokenize"})),
    Hostile("reordered cells", "the exercises after everything else, last first", rewritten(exercises_last)),
    Hostile("renamed exercise", "merge_pair defined as merge_pairs", rewritten(renamed("merge_pair", "merge_pairs")),
            frozenset({"merge_pair"})),
    Hostile("non-UTF-8 bytes", "Latin-1 bytes in a cell", raw("01_tokenization.ipynb", latin1_comment)),
]


def build(ctx: Context, lean: Path, cases) -> dict:
    """{name: path} of the cases, each in its own folder under ctx.folder."""
    return {case.name: Path(case.build(ctx, lean, ctx.folder / f"case{number:02d}"))
            for number, case in enumerate(cases)}


def lean_notebook(folder) -> Path:
    return helpers.definitions_only(SOLUTIONS, folder, DEFINITION_CELLS)
