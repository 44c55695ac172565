"""Reading submitted notebooks leniently: any nbformat 3 or 4 file, whatever
saved it (JupyterLab, Colab, VS Code), and telling which course notebook it is
by its file name or, failing that, by the exercises it defines."""
import ast
import json
import re
from pathlib import Path


class NotebookError(Exception):
    """The file cannot be read as a notebook; the message says why."""


def code_cells(path) -> list[str]:
    """The sources of the notebook's code cells, in order."""
    try:
        raw = Path(path).read_bytes()
    except OSError as error:
        raise NotebookError(f"cannot read the file ({error.strerror})") from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        text = raw.decode("utf-8", errors="replace")
    try:
        notebook = json.loads(text)
    except ValueError as error:
        raise NotebookError(f"the file is not valid notebook JSON ({error})") from None
    if not isinstance(notebook, dict):
        raise NotebookError("the file is not a notebook (no cells)")
    if isinstance(notebook.get("cells"), list):              # nbformat 4
        cells, source_key = notebook["cells"], "source"
    elif isinstance(notebook.get("worksheets"), list):       # nbformat 3
        cells = [c for sheet in notebook["worksheets"] if isinstance(sheet, dict)
                 for c in sheet.get("cells", []) if isinstance(sheet.get("cells"), list)]
        source_key = "input"
    else:
        raise NotebookError("the file is not a notebook (no cells)")
    sources = []
    for cell in cells:
        if isinstance(cell, dict) and cell.get("cell_type") == "code":
            source = cell.get(source_key, "")
            if isinstance(source, list):
                source = "".join(part for part in source if isinstance(part, str))
            sources.append(source if isinstance(source, str) else "")
    return sources


def defined_names(sources) -> set[str]:
    """Top-level functions and classes the cells define. IPython magic lines
    are dropped first; a cell that still does not parse defines nothing."""
    names = set()
    for source in sources:
        python = "\n".join(line for line in source.splitlines()
                           if not line.lstrip().startswith(("%", "!")))
        try:
            tree = ast.parse(python)
        except (SyntaxError, ValueError):
            continue
        names.update(node.name for node in tree.body
                     if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)))
    return names


def identify(path, sources, exercises_by_notebook) -> str | None:
    """The course notebook a submission is: its file name names one (e.g.
    "Copy of 01_tokenization (2).ipynb"), else the one whose exercises it
    defines most of; None when neither tells."""
    stem = Path(path).name
    for notebook in exercises_by_notebook:
        if notebook in stem:
            return notebook
    match = re.search(r"(?<!\d)(\d\d)(?!\d)", stem)
    by_number = [nb for nb in exercises_by_notebook if match and nb.startswith(match.group(1) + "_")]
    names = defined_names(sources)
    scores = {nb: len(names & {e.name for e in exercises}) for nb, exercises in exercises_by_notebook.items()}
    best = max(scores, key=lambda nb: (scores[nb], nb in by_number), default=None)
    if best is not None and scores[best] > 0:
        return best
    return by_number[0] if by_number else None
