"""Detector state as bytes, without pickle: a JSON document whose numpy arrays travel as raw bytes.

    blob = MAGIC + zlib(header length (4 bytes, big-endian) + header JSON + the arrays' bytes, in order)

The header is `{"doc": ..., "arrays": [[dtype, shape], ...]}`; in the document every array is replaced by
`{"$array": index}`. Decoding only parses JSON and copies numbers out of the buffer (dtypes from a fixed
list), so a blob planted in Redis can at worst be refused, never run code. Anything malformed raises
`UnreadableState`.
"""

import json
import math
import struct
import zlib
from typing import Any

import numpy as np

MAGIC = b"aiops-state/2\n"
_DTYPES = {"<f8": np.dtype("<f8"), "<i4": np.dtype("<i4"), "<i8": np.dtype("<i8")}
_MAX_DECODED = 64 << 20  # bytes: a detector's state is ~0.5 MB decompressed
_LENGTH = struct.Struct(">I")


class UnreadableState(ValueError):
    """The blob is not a state this codec wrote (an older format, truncated, or forged)."""


def encode(doc: dict) -> bytes:
    arrays: list[np.ndarray] = []

    def strip(value: Any) -> Any:
        if isinstance(value, np.ndarray):
            arrays.append(np.ascontiguousarray(value, dtype=value.dtype.newbyteorder("<")))
            return {"$array": len(arrays) - 1}
        if isinstance(value, np.generic):
            return value.item()
        if isinstance(value, dict):
            return {key: strip(item) for key, item in value.items()}
        if isinstance(value, list | tuple):
            return [strip(item) for item in value]
        return value

    header = {"doc": strip(doc), "arrays": [[a.dtype.str, list(a.shape)] for a in arrays]}
    head = json.dumps(header, separators=(",", ":")).encode()  # Infinity and NaN round-trip
    return MAGIC + zlib.compress(b"".join([_LENGTH.pack(len(head)), head, *(a.tobytes() for a in arrays)]), 1)


def decode(blob: bytes) -> dict:
    if not blob.startswith(MAGIC):
        raise UnreadableState("not a state of this format")
    try:
        inflater = zlib.decompressobj()
        raw = inflater.decompress(blob[len(MAGIC):], _MAX_DECODED)
        if not inflater.eof:
            raise UnreadableState("state truncated or larger than the limit")
        (head_len,) = _LENGTH.unpack_from(raw)
        header = json.loads(raw[_LENGTH.size:_LENGTH.size + head_len])
        arrays = _arrays(raw, _LENGTH.size + head_len, header["arrays"])
        doc = _restore(header["doc"], arrays)
    except (zlib.error, struct.error, ValueError, KeyError, TypeError, IndexError, RecursionError) as exc:
        raise UnreadableState(str(exc)) from exc
    if not isinstance(doc, dict):
        raise UnreadableState("state is not an object")
    return doc


def _arrays(raw: bytes, offset: int, specs: list) -> list[np.ndarray]:
    arrays = []
    for dtype_name, shape in specs:
        dtype = _DTYPES.get(dtype_name)
        if dtype is None or not all(isinstance(n, int) and n >= 0 for n in shape):
            raise UnreadableState("unsupported array")
        size = math.prod(shape) * dtype.itemsize
        if offset + size > len(raw):
            raise UnreadableState("truncated arrays")
        arrays.append(np.frombuffer(raw, dtype, count=size // dtype.itemsize, offset=offset).reshape(shape).copy())
        offset += size
    if offset != len(raw):
        raise UnreadableState("trailing bytes")
    return arrays


def _restore(value: Any, arrays: list[np.ndarray]) -> Any:
    if isinstance(value, dict):
        if value.keys() == {"$array"}:
            return arrays[value["$array"]]
        return {key: _restore(item, arrays) for key, item in value.items()}
    if isinstance(value, list):
        return [_restore(item, arrays) for item in value]
    return value
