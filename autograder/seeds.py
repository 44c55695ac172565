"""Hidden inputs come from a seed students cannot know: the instructor's
secret, mixed with the notebook and exercise names, so that a re-grade draws
the same inputs.

The secret is configuration, never part of an installed package. It is read,
in this order, from:
1. the environment variable AUTOGRADER_SECRET;
2. the file `.autograder-secret` in the folder grading runs from (the course
   folder, beside nbgrader's gradebook);
3. the file `lmcourse/autograder-secret` in the user's configuration folder
   (`$XDG_CONFIG_HOME`, else `~/.config`), which the instructor's first
   grading creates when none of these exists.

A learner's self-check never reads or makes it: it draws from PUBLIC_SEED."""
import hashlib
import os
import random
import secrets
from pathlib import Path

import torch

SECRET_ENV_VAR = "AUTOGRADER_SECRET"
COURSE_SECRET_FILE = ".autograder-secret"
# Known to everyone: the self-check's inputs are not hidden, and it says so.
PUBLIC_SEED = "public self-check"


def user_secret_file() -> Path:
    config = os.environ.get("XDG_CONFIG_HOME") or Path.home() / ".config"
    return Path(config) / "lmcourse" / "autograder-secret"


def secret_files() -> list[Path]:
    """Where a secret file may be, first found wins."""
    return [Path.cwd() / COURSE_SECRET_FILE, user_secret_file()]


def grader_secret(create: bool = True) -> str:
    """The instructor's secret (see the module's docstring). With `create`,
    a missing one is made in the user's configuration folder; without, a
    missing one raises LookupError."""
    if os.environ.get(SECRET_ENV_VAR):
        return os.environ[SECRET_ENV_VAR]
    for path in secret_files():
        if path.is_file():
            return path.read_text().strip()
    if not create:
        raise LookupError(f"no grader secret: set {SECRET_ENV_VAR}, or write one to "
                          f"{COURSE_SECRET_FILE} in the course folder or to {user_secret_file()}")
    return _create(user_secret_file())


def _create(path: Path) -> str:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    # Written aside then linked into place: two graders starting at once
    # agree on whichever secret landed first.
    draft = path.with_name(f".{path.name}.{os.getpid()}")
    draft.write_text(secrets.token_hex(16) + "\n")
    draft.chmod(0o600)
    try:
        os.link(draft, path)
    except FileExistsError:
        pass
    finally:
        draft.unlink()
    return path.read_text().strip()


def exercise_rng(secret: str, notebook: str, exercise: str) -> random.Random:
    digest = hashlib.sha256(f"{secret}/{notebook}/{exercise}".encode()).digest()
    return random.Random(int.from_bytes(digest[:8], "big"))


def torch_generator(rng: random.Random) -> torch.Generator:
    """A trusted-side torch generator seeded from a check's rng."""
    return torch.Generator().manual_seed(rng.getrandbits(63))
