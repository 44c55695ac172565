"""Shared test set-up: one torch thread per test process, since `make test`
runs two processes on two cores and oversubscribed threads slow torch by
orders of magnitude; and one grader secret for every test and the graders
they start, given as an instructor's configuration would (never a file the
tests leave behind)."""
import os

import torch

torch.set_num_threads(1)
os.environ.setdefault("AUTOGRADER_SECRET", "the project's tests")
