"""The wire format between the trusted grader and the worker: length-prefixed
JSON frames holding plain data only. Nothing is pickled.

This module is imported by both sides. The worker's encoder is a convenience
(the worker is untrusted and may be patched); the trusted side's safety rests
on `decode`, which accepts exactly the tagged forms below and builds fresh
Python objects and base-class tensors from them.

    encode((1, b"a")) -> {"__tuple__": [1, {"__bytes__": "YQ=="}]}
"""
import base64
import json
import math
import struct

import torch

MAX_FRAME_BYTES = 256 * 1024 * 1024
MAX_DEPTH = 64

DTYPES = {
    "bool": torch.bool, "uint8": torch.uint8, "int8": torch.int8,
    "int16": torch.int16, "int32": torch.int32, "int64": torch.int64,
    "float16": torch.float16, "bfloat16": torch.bfloat16,
    "float32": torch.float32, "float64": torch.float64,
}
DTYPE_NAMES = {dtype: name for name, dtype in DTYPES.items()}
TAGS = ("__tuple__", "__bytes__", "__dict__", "__tensor__", "__handle__",
        "__generator__", "__float__")


class WireError(ValueError):
    """A value that is not plain data, or a frame that breaks the format."""


class Handle:
    """An object that lives in the worker, named by a number."""

    def __init__(self, number, type_name=""):
        self.number = number
        self.type_name = type_name

    def __repr__(self):
        return f"<{self.type_name or 'object'} in the notebook>"


class GeneratorSeed:
    """Becomes `torch.Generator().manual_seed(seed)` on the worker side."""

    def __init__(self, seed):
        self.seed = int(seed)


# --------------------------------------------------------------- encoding
def encode(value, make_handle=None, depth=0):
    """Plain data -> JSON-ready structure. Subclasses of plain types (a
    namedtuple, an OrderedDict, a numpy scalar) are sent as the plain type;
    `make_handle(obj) -> Handle` is called for anything else, and without it
    such values raise WireError."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    if value is None or isinstance(value, bool):
        return value if value is None else bool(value)
    if isinstance(value, Handle):
        return {"__handle__": value.number}
    if isinstance(value, GeneratorSeed):
        return {"__generator__": value.seed}
    if isinstance(value, torch.Tensor):
        return _encode_tensor(value)
    numpy_value = _from_numpy(value)
    if numpy_value is not None:
        return encode(numpy_value, make_handle, depth + 1)
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float):
        value = float(value)
        return value if math.isfinite(value) else {"__float__": repr(value)}
    if isinstance(value, str):
        return str.__str__(value)
    if isinstance(value, (bytes, bytearray)):
        return {"__bytes__": base64.b64encode(bytes(value)).decode("ascii")}
    if isinstance(value, list):
        return [encode(v, make_handle, depth + 1) for v in value]
    if isinstance(value, tuple):
        return {"__tuple__": [encode(v, make_handle, depth + 1) for v in value]}
    if isinstance(value, dict):
        return {"__dict__": [[encode(k, make_handle, depth + 1), encode(v, make_handle, depth + 1)]
                             for k, v in value.items()]}
    if make_handle is not None:
        return encode(make_handle(value), None, depth)
    raise WireError(f"{type(value).__name__} is not plain data")


def _from_numpy(value):
    """A numpy scalar or array as a Python number or tensor, else None."""
    numpy = type(value).__module__ == "numpy" and __import__("numpy")
    if not numpy:
        return None
    if isinstance(value, numpy.ndarray):
        return torch.from_numpy(value.copy())
    if isinstance(value, numpy.generic):
        return value.item()
    return None


def _encode_tensor(tensor):
    tensor = tensor.detach().as_subclass(torch.Tensor).cpu().contiguous()
    if tensor.dtype not in DTYPE_NAMES:
        raise WireError(f"tensor dtype {tensor.dtype} is not supported")
    raw = tensor.reshape(-1).view(torch.uint8) if tensor.numel() else torch.empty(0, dtype=torch.uint8)
    return {"__tensor__": {"dtype": DTYPE_NAMES[tensor.dtype], "shape": list(tensor.shape),
                           "data": base64.b64encode(raw.numpy().tobytes()).decode("ascii")}}


# --------------------------------------------------------------- decoding
def decode(data, resolve_handle=None, depth=0):
    """JSON structure -> fresh plain values. `resolve_handle(number)` maps a
    handle (default: a `Handle`); generators become `GeneratorSeed` unless
    the caller converts them."""
    if depth > MAX_DEPTH:
        raise WireError("value nested too deeply")
    kind = type(data)
    if data is None or kind in (bool, int, float, str):
        return data
    if kind is list:
        return [decode(v, resolve_handle, depth + 1) for v in data]
    if kind is not dict or len(data) != 1:
        raise WireError("malformed value")
    (tag, body), = data.items()
    if tag == "__tuple__" and type(body) is list:
        return tuple(decode(v, resolve_handle, depth + 1) for v in body)
    if tag == "__bytes__" and type(body) is str:
        return _b64(body)
    if tag == "__dict__" and type(body) is list:
        out = {}
        for pair in body:
            if type(pair) is not list or len(pair) != 2:
                raise WireError("malformed dict entry")
            key = decode(pair[0], resolve_handle, depth + 1)
            try:
                out[key] = decode(pair[1], resolve_handle, depth + 1)
            except TypeError:
                raise WireError("unhashable dict key") from None
        return out
    if tag == "__tensor__" and type(body) is dict:
        return _decode_tensor(body)
    if tag == "__handle__" and type(body) is int:
        return resolve_handle(body) if resolve_handle else Handle(body)
    if tag == "__generator__" and type(body) is int:
        return GeneratorSeed(body)
    if tag == "__float__" and body in ("nan", "inf", "-inf"):
        return float(body)
    raise WireError("malformed value")


def _b64(text):
    try:
        return base64.b64decode(text.encode("ascii"), validate=True)
    except (ValueError, UnicodeEncodeError):
        raise WireError("malformed base64") from None


def _decode_tensor(body):
    if set(body) != {"dtype", "shape", "data"} or body["dtype"] not in DTYPES:
        raise WireError("malformed tensor")
    shape = body["shape"]
    if type(shape) is not list or not all(type(n) is int and n >= 0 for n in shape):
        raise WireError("malformed tensor shape")
    dtype = DTYPES[body["dtype"]]
    raw = _b64(body["data"]) if type(body["data"]) is str else None
    numel = math.prod(shape)
    itemsize = torch.empty(0, dtype=dtype).element_size()
    if raw is None or len(raw) != numel * itemsize:
        raise WireError("tensor data does not match its shape")
    if numel == 0:
        return torch.empty(shape, dtype=dtype)
    return torch.frombuffer(bytearray(raw), dtype=dtype).reshape(shape).clone()


# ------------------------------------------------------------------ frames
def frame(message):
    """One JSON message (a dict) as bytes: an 8-byte length, then UTF-8 JSON."""
    payload = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return struct.pack(">Q", len(payload)) + payload


def write_frame(writer, message):
    """Send one message through a writable binary file."""
    writer.write(frame(message))
    writer.flush()


def parse_frame(payload):
    try:
        message = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        raise WireError("malformed frame") from None
    if type(message) is not dict:
        raise WireError("malformed frame")
    return message
