"""Shared test set-up: one torch thread per test process, since `make test`
runs two processes on two cores and oversubscribed threads slow torch by
orders of magnitude."""
import torch

torch.set_num_threads(1)
