# Pure-Python safetensors reader/writer (struct + json + numpy) for the SambaY reference.
# Owns: header parsing/validation, F32/F16/BF16/F64 decoding, BF16 encoding with
# round-to-nearest-even. Knows nothing of the model.

import json
import os
import struct

import numpy as np

# safetensors dtype tag -> (numpy storage dtype, bytes per element)
_DTYPES = {
    "F64": (np.dtype("<f8"), 8),
    "F32": (np.dtype("<f4"), 4),
    "F16": (np.dtype("<f2"), 2),
    "BF16": (np.dtype("<u2"), 2),  # decoded by bit manipulation
}

# A header larger than this is certainly not a model header (the real index's biggest shard
# header is ~50 kB); refusing early avoids reading an absurd length from a corrupt file.
_MAX_HEADER = 100 * 1024 * 1024


class SafetensorsError(Exception):
    pass


def bf16_bits_to_f32(bits):
    """uint16 bf16 patterns -> float32 (exact: bf16 is the top half of an f32)."""
    b = np.asarray(bits, dtype=np.uint16)
    return (b.reshape(-1).astype(np.uint32) << np.uint32(16)).view(np.float32).reshape(b.shape)


def f32_to_bf16_bits(x):
    """float32 -> uint16 bf16 patterns, round to nearest, ties to even; NaN stays a quiet NaN."""
    shape = np.shape(x)
    x = np.asarray(x, dtype=np.float32).reshape(-1)  # 1-D: .view() refuses 0-d arrays
    u = x.view(np.uint32).astype(np.uint64)
    # Adding 0x7FFF plus the lowest kept bit rounds half-way cases towards an even result.
    sh, one = np.uint64(16), np.uint64(1)
    rounded = ((u + np.uint64(0x7FFF) + ((u >> sh) & one)) >> sh).astype(np.uint16)
    nan = np.isnan(x)
    sign = ((u >> sh) & np.uint64(0x8000)).astype(np.uint16)
    return np.where(nan, sign | np.uint16(0x7FC0), rounded).astype(np.uint16).reshape(shape)


def round_to_bf16(x):
    """Values as they come back after a bf16 store (float32 result)."""
    return bf16_bits_to_f32(f32_to_bf16_bits(np.asarray(x, dtype=np.float32)))


def read_header(path):
    """Returns (header dict without __metadata__, metadata dict, data offset in bytes)."""
    size = os.path.getsize(path)
    with open(path, "rb") as f:
        raw = f.read(8)
        if len(raw) != 8:
            raise SafetensorsError(f"{path}: file shorter than the 8-byte header length")
        (hlen,) = struct.unpack("<Q", raw)
        if hlen > _MAX_HEADER or 8 + hlen > size:
            raise SafetensorsError(f"{path}: header length {hlen} exceeds the file size {size}")
        try:
            header = json.loads(f.read(hlen).decode("utf-8"))
        except (UnicodeDecodeError, json.JSONDecodeError) as e:
            raise SafetensorsError(f"{path}: header is not valid JSON: {e}") from None
    if not isinstance(header, dict):
        raise SafetensorsError(f"{path}: header is not a JSON object")
    meta = header.pop("__metadata__", {}) or {}
    data_start = 8 + hlen
    data_len = size - data_start
    for name, info in header.items():
        if not isinstance(info, dict) or not {"dtype", "shape", "data_offsets"} <= info.keys():
            raise SafetensorsError(f"{path}: tensor '{name}' lacks dtype/shape/data_offsets")
        if info["dtype"] not in _DTYPES:
            raise SafetensorsError(f"{path}: tensor '{name}' has unsupported dtype {info['dtype']}")
        shape = info["shape"]
        if not isinstance(shape, list) or not all(isinstance(s, int) and s >= 0 for s in shape):
            raise SafetensorsError(f"{path}: tensor '{name}' has a bad shape {shape!r}")
        begin, end = info["data_offsets"]
        nbytes = int(np.prod(shape, dtype=object)) * _DTYPES[info["dtype"]][1]
        if not (0 <= begin <= end <= data_len) or end - begin != nbytes:
            raise SafetensorsError(
                f"{path}: tensor '{name}' offsets [{begin},{end}) do not match shape {shape} "
                f"{info['dtype']} ({nbytes} bytes) inside {data_len} data bytes")
    return header, meta, data_start


def read_tensors(path, names=None):
    """Reads tensors as float32 (F32/F16/BF16) or float64 (F64) numpy arrays.
    Returns {name: array} and {name: dtype tag}."""
    header, _, data_start = read_header(path)
    mm = np.memmap(path, dtype=np.uint8, mode="r")
    out, tags = {}, {}
    for name, info in header.items():
        if names is not None and name not in names:
            continue
        np_dtype, _ = _DTYPES[info["dtype"]]
        begin, end = info["data_offsets"]
        raw = np.frombuffer(mm[data_start + begin:data_start + end], dtype=np_dtype)
        if info["dtype"] == "BF16":
            arr = bf16_bits_to_f32(raw)
        elif info["dtype"] == "F16":
            arr = raw.astype(np.float32)
        else:
            arr = raw.astype(np_dtype.newbyteorder("="))
        out[name] = arr.reshape(info["shape"])
        tags[name] = info["dtype"]
    return out, tags


def write_tensors(path, tensors, dtypes, metadata=None):
    """tensors: {name: float array}; dtypes: {name: 'F32'|'BF16'|'F16'|'F64'}.
    Tensors are stored in name order; the header is padded with spaces to a multiple of 8."""
    header, blobs, offset = {}, [], 0
    for name in sorted(tensors):
        arr = np.asarray(tensors[name])
        tag = dtypes[name]
        if tag == "BF16":
            blob = f32_to_bf16_bits(arr.astype(np.float32)).astype("<u2").tobytes()
        elif tag in ("F32", "F16", "F64"):
            blob = arr.astype(_DTYPES[tag][0]).tobytes()
        else:
            raise SafetensorsError(f"cannot write dtype {tag}")
        header[name] = {"dtype": tag, "shape": list(arr.shape),
                        "data_offsets": [offset, offset + len(blob)]}
        blobs.append(blob)
        offset += len(blob)
    header = {"__metadata__": metadata or {"format": "pt"}, **header}
    hbytes = json.dumps(header, separators=(",", ":")).encode("utf-8")
    hbytes += b" " * ((8 - len(hbytes) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hbytes)))
        f.write(hbytes)
        for blob in blobs:
            f.write(blob)
