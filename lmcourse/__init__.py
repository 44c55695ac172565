"""lmcourse: the plumbing of the course (data, tokenizer, device, seeds, training loop).

The lessons themselves live in the notebooks; nothing here is graded.
"""
from .data import gpt2_files, load_corpus, load_plays, play_pairs
from .paths import data_dir, repo_root
from .runtime import TimeBudget, autocast, grading_mode, pick_device, seed_everything
from .selfcheck import check_my_work
from .tokenizer import SPECIAL_TOKENS, load_course_tokenizer, sentinel_ids, special_token_ids
from .train import History, train

__all__ = [
    "History",
    "SPECIAL_TOKENS",
    "TimeBudget",
    "autocast",
    "check_my_work",
    "data_dir",
    "gpt2_files",
    "grading_mode",
    "load_corpus",
    "load_course_tokenizer",
    "load_plays",
    "pick_device",
    "play_pairs",
    "repo_root",
    "seed_everything",
    "sentinel_ids",
    "special_token_ids",
    "train",
]
