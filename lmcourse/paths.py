"""Where the course lives on disk: the repository and its shipped data/."""
from __future__ import annotations

import os
from pathlib import Path

DATA_ENV_VAR = "LMCOURSE_DATA"


def repo_root() -> Path:
    """The course repository: the folder that holds `lmcourse/` and `data/`."""
    return Path(__file__).resolve().parent.parent


def data_dir() -> Path:
    """The data folder: `$LMCOURSE_DATA` if set, else `data/` in the repository.

    Raises FileNotFoundError, saying how to fix it, when the folder is missing
    (for example when `lmcourse` was pip-installed without the repository).
    """
    override = os.environ.get(DATA_ENV_VAR)
    path = Path(override).expanduser() if override else repo_root() / "data"
    if not path.is_dir():
        source = f"${DATA_ENV_VAR}" if override else "the repository's data/ folder"
        raise FileNotFoundError(
            f"Course data not found at {path} ({source}). Work from a clone of the "
            f"course repository, which ships data/, or set the environment variable "
            f"{DATA_ENV_VAR} to the path of its data/ folder; `make data` rebuilds it."
        )
    return path
