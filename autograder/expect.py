"""Expectations for hidden checks. A failure raises `Failed` with a message
the student reads: what was asked, what came back, what was expected."""
import math

import torch


class Failed(AssertionError):
    pass


def short(value, limit=160):
    text = repr(value)
    return text if len(text) <= limit else text[:limit] + "..."


def expect(condition, message):
    if not condition:
        raise Failed(message)


def same_plain(a, b):
    """Equal as plain data, types included (a list is not a tuple, True is not 1)."""
    if type(a) is not type(b):
        return False
    if isinstance(a, (list, tuple)):
        return len(a) == len(b) and all(same_plain(x, y) for x, y in zip(a, b))
    if isinstance(a, dict):
        return a.keys() == b.keys() and all(same_plain(a[k], b[k]) for k in a)
    if isinstance(a, float):
        return a == b or (math.isnan(a) and math.isnan(b))
    if isinstance(a, torch.Tensor):
        return a.dtype == b.dtype and a.shape == b.shape and torch.equal(a, b)
    return a == b


def expect_equal(got, expected, what):
    """`what` names the call, e.g. "merge_pair((1, 2), (1, 2), 9)"."""
    if not same_plain(got, expected):
        raise Failed(f"{what} returned {short(got)}, expected {short(expected)}")


def expect_tensor(got, what, *, shape=None, dtype=None):
    expect(isinstance(got, torch.Tensor), f"{what} returned {type(got).__name__}, expected a tensor")
    if shape is not None:
        expect(tuple(got.shape) == tuple(shape),
               f"{what} returned shape {tuple(got.shape)}, expected {tuple(shape)}")
    if dtype is not None:
        expect(got.dtype == dtype, f"{what} returned dtype {got.dtype}, expected {dtype}")


def expect_close(got, expected, what, *, atol=1e-5, rtol=1e-5):
    """Tensors of the same shape agreeing within tolerance (NaNs must match)."""
    expect_tensor(got, what, shape=expected.shape)
    got64, expected64 = got.to(torch.float64), expected.to(torch.float64)
    same_nan = torch.equal(torch.isnan(got64), torch.isnan(expected64))
    expect(same_nan, f"{what} has NaN where the reference has none (or the other way round)")
    close = torch.isclose(got64, expected64, atol=atol, rtol=rtol, equal_nan=True)
    if not bool(close.all()):
        worst = (got64 - expected64).abs().nan_to_num(0).max().item()
        raise Failed(f"{what} differs from the reference by up to {worst:.3g} "
                     f"(tolerance {atol:g}) at {int((~close).sum())} of {close.numel()} entries")
