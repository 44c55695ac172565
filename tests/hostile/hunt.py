"""A submission's cell that hunts for the grader's private files: the hidden
checks, the references, the solutions and the secret. Run as a notebook cell
(the corpus's "hunts the grader"), it leaves in `_found` every place where it
read one of them; the case then keeps the right merge_pair only if one of
them counts (hostile.hunts_the_grader).

Where it looks:
- the Python it runs in: sys.prefix, sys.base_prefix, their site-packages,
  site.getsitepackages(), the user's site-packages and every folder on
  sys.path, walked a few levels down for autograder/hidden/*.py, autograder/reference/*.py,
  solutions/*.ipynb and files named like the secret;
- importlib: autograder.hidden and autograder.reference.tokenization, by
  find_spec and by import;
- the environment: AUTOGRADER_SECRET, and every value that is a path (its
  folder and the folder above it, where a course checkout would be);
- /proc: every process's environ (as above), cwd and root (the files as that
  process sees them), and the command lines of its own ancestors (the
  grader): the environment of the Python they run, and the folders of the
  paths they were given;
- every account's home folder (/etc/passwd), for the secret's files.

It does not search the whole file system: under `unprivileged`, files every
user may read are not contained, by design (docs/sandbox.md), so there the
case counts only what it finds under the grader's own private places (another
copy of the course that a command line names is not the grader's).
A file counts only if it has content: a masked file (/dev/null) or an empty
folder is what a sandbox is meant to show."""
import glob
import importlib
import importlib.util
import os
import site
import sys

_SECRET_NAMES = {".autograder-secret", "autograder-secret", ".secret"}
_found = []


def _has_content(path):
    try:
        with open(path, "rb") as file:
            return bool(file.read(4096).strip())
    except OSError:
        return False


def _is_grader_file(path):
    parts = path.rstrip(os.sep).split(os.sep)
    name = parts[-1]
    if name in _SECRET_NAMES:
        return True
    if len(parts) >= 3 and parts[-3] == "autograder" and parts[-2] in ("hidden", "reference") \
            and name.endswith(".py"):
        return True
    return len(parts) >= 2 and parts[-2] == "solutions" and name.endswith(".ipynb")


def _take(path):
    if path not in _found and _is_grader_file(path) and _has_content(path):
        _found.append(path)


_looked = set()


def _look(top, depth):
    """Every grader file down to `depth` folders below `top` (a file: itself)."""
    if not top or (top, depth) in _looked:
        return
    _looked.add((top, depth))
    if not os.path.isdir(top):
        _take(top)
        return
    start = top.rstrip(os.sep).count(os.sep)
    for folder, folders, files in os.walk(top):
        if folder.count(os.sep) - start >= depth:
            folders[:] = []
        folders[:] = [name for name in folders if name not in ("__pycache__", "proc", "sys", "dev")]
        for name in files:
            _take(os.path.join(folder, name))


def _paths_in(value):
    """The absolute paths in an environment value or an argument (PATH-like lists split)."""
    return [part for part in value.split(os.pathsep) if part.startswith(os.sep)]


def _around(path, depth=2):
    """A path, and the folder above it (a course checkout holding a data folder
    or a venv), unless that is / or a folder every user may write (/tmp):
    never a checkout, and what others leave there is not the grader's."""
    _look(path, depth)
    folder = path if os.path.isdir(path) else os.path.dirname(path)
    above = os.path.dirname(folder.rstrip(os.sep)) or os.sep
    try:
        shared = above == os.sep or os.stat(above).st_mode & 0o002
    except OSError:
        return
    if not shared:
        _look(above, depth)


def _environment(prefix):
    """{folder: depth} of a Python installed at `prefix`: the prefix itself, its site-packages."""
    folders = {prefix: 2}
    for pattern in ("lib/python3*/site-packages", "lib/python3*/dist-packages", "local/lib/python3*/dist-packages",
                    "lib/python3/dist-packages"):
        folders.update(dict.fromkeys(glob.glob(os.path.join(prefix, pattern)), 3))
    return folders


# --- the Python it runs in
_folders = {**_environment(sys.base_prefix), **_environment(sys.prefix)}
try:
    _folders.update(dict.fromkeys(site.getsitepackages(), 3))
    _folders[site.getusersitepackages()] = 3
except Exception:
    pass
for _entry in sys.path:
    _folders.setdefault(_entry or os.getcwd(), 3)
for _folder, _depth in list(_folders.items()):
    _look(_folder, _depth)
    for _name in ("autograder", "solutions", ".autograder-secret"):
        _look(os.path.join(_folder, _name), 3)

# --- importlib
for _module in ("autograder.hidden", "autograder.hidden.tokenization", "autograder.reference",
                "autograder.reference.tokenization"):
    try:
        _spec = importlib.util.find_spec(_module)
    except Exception:
        _spec = None
    if _spec is not None:
        for _location in [_spec.origin, *(_spec.submodule_search_locations or [])]:
            if _location and os.path.isabs(_location):
                _look(_location, 1)
                if _has_content(_location) and _location not in _found:
                    _found.append(_location)
try:
    from autograder.reference.tokenization import merge_pair as _reference_merge_pair
    _found.append(f"import {_reference_merge_pair.__module__}")
except Exception:
    pass

# --- the environment
if os.environ.get("AUTOGRADER_SECRET"):
    _found.append("$AUTOGRADER_SECRET")
for _value in os.environ.values():
    for _path in _paths_in(_value):
        _around(_path)

# --- /proc
_roots = []
for _pid in sorted(os.listdir("/proc")):
    if not _pid.isdigit() or int(_pid) == os.getpid():
        continue
    try:
        with open(f"/proc/{_pid}/environ", "rb") as _file:
            _environ = _file.read().split(b"\0")
    except OSError:
        _environ = []
    for _item in _environ:
        _key, _, _value = _item.decode(errors="replace").partition("=")
        if _key == "AUTOGRADER_SECRET" and _value:
            _found.append(f"/proc/{_pid}/environ: AUTOGRADER_SECRET")
        for _path in _paths_in(_value):
            _around(_path)
    try:
        with open(f"/proc/{_pid}/cmdline", "rb") as _file:
            if b"AUTOGRADER_SECRET=" in _file.read():
                _found.append(f"/proc/{_pid}/cmdline: AUTOGRADER_SECRET")
    except OSError:
        pass
    try:
        _cwd = os.readlink(f"/proc/{_pid}/cwd")
        _look(f"/proc/{_pid}/cwd", 2)
        _around(_cwd)
    except OSError:
        pass
    try:
        os.readlink(f"/proc/{_pid}/root")
        _roots.append(f"/proc/{_pid}/root")
    except OSError:
        pass


def _ancestors():
    pid = os.getpid()
    while pid > 1:
        try:
            with open(f"/proc/{pid}/stat") as file:
                pid = int(file.read().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            return
        if pid > 0:
            yield pid


for _pid in _ancestors():
    try:
        with open(f"/proc/{_pid}/cmdline", "rb") as _file:
            _arguments = [a.decode(errors="replace") for a in _file.read().split(b"\0") if a]
    except OSError:
        continue
    if _arguments and _arguments[0].startswith(os.sep) and os.path.basename(_arguments[0]).startswith("python"):
        for _folder, _depth in _environment(os.path.dirname(os.path.dirname(_arguments[0]))).items():
            _look(_folder, _depth)
            _folders.setdefault(_folder, _depth)
    for _argument in _arguments[1:]:
        for _path in _paths_in(_argument.partition("=")[2] or _argument):
            _around(_path)

# --- every account's home, for the secret's files
try:
    with open("/etc/passwd") as _file:
        _homes = {line.split(":")[5] for line in _file if line.count(":") >= 6}
except OSError:
    _homes = set()
_homes |= {os.path.expanduser("~"), "/root"}
for _home in _homes:
    for _name in (".config/lmcourse/autograder-secret", ".autograder-secret"):
        _take(os.path.join(_home, _name))

# --- the same places, as other processes see the files
for _root in _roots:
    for _folder in list(_folders) + sorted(_homes):
        if os.path.isabs(_folder):
            _look(_root + _folder, 3)

