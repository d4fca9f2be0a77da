#!/usr/bin/env python3
# NumPy dequantizers of ggml's Q4_0, Q4_K, Q5_K and Q6_K blocks, written from the block descriptions
# (ggml-common.h's structs, formats-and-conventions.md §2), element by element in index arithmetic so that
# they share no structure with the C++ loops they check. Float32 arithmetic in the order ggml uses:
# (d·scale)·q − dmin·min, so results are bit-comparable with a C++ decoder that does the same.
#
# Command line (used by tests/convert/numpy_dequant_test.cpp):
#   ggml_quants.py TYPE IN.bin OUT.f32     raw blocks of TYPE (q4_0|q4_k|q5_k|q6_k) -> little-endian f32

import sys

import numpy as np

BLOCK = {"q4_0": (32, 18), "q4_k": (256, 144), "q5_k": (256, 176), "q6_k": (256, 210)}


def _blocks(data, type_name):
    elems, nbytes = BLOCK[type_name]
    raw = np.frombuffer(data, dtype=np.uint8)
    if raw.size % nbytes:
        raise ValueError(f"{type_name}: {raw.size} bytes is not a whole number of {nbytes}-byte blocks")
    return raw.reshape(-1, nbytes)


def _f16(b, off):
    """The little-endian f16 at byte `off` of every block, as an (nb, 1) float32 column."""
    return b[:, off:off + 2].copy().view("<f2").astype(np.float32)


def _k_scales_mins(s):
    """6-bit scale and min of sub-block j = 0..7 from the 12 scale bytes s (nb, 12): j < 4 in the low 6 bits
    of s[j] (scale) and s[j+4] (min); j >= 4 in the nibbles of s[j+4] (scale low, min high), their top two
    bits in the top bits of s[j-4] (scale) and s[j] (min)."""
    s = s.astype(np.int32)
    sc = np.empty((s.shape[0], 8), np.int32)
    mn = np.empty((s.shape[0], 8), np.int32)
    sc[:, :4] = s[:, 0:4] & 63
    mn[:, :4] = s[:, 4:8] & 63
    sc[:, 4:] = (s[:, 8:12] & 15) | ((s[:, 0:4] >> 6) << 4)
    mn[:, 4:] = (s[:, 8:12] >> 4) | ((s[:, 4:8] >> 6) << 4)
    return sc, mn


def dequantize_q4_0(data):
    b = _blocks(data, "q4_0")
    e = np.arange(32)
    byte = b[:, 2 + (e % 16)].astype(np.int32)           # element e: byte e mod 16,
    q = np.where(e < 16, byte & 15, byte >> 4) - 8        # low nibble for e < 16, high nibble after
    return (q.astype(np.float32) * _f16(b, 0)).reshape(-1)


def _k_affine(b, qs_off, qh_off):
    """Q4_K (qh_off None) and Q5_K: element e is in sub-block e // 32 and in the nibble of
    qs[32·(e // 64) + e % 32] chosen by whether e % 64 >= 32; Q5_K's fifth bit is bit (e // 32) of qh[e % 32]."""
    e = np.arange(256)
    byte = b[:, qs_off + 32 * (e // 64) + e % 32].astype(np.int32)
    q = np.where(e % 64 < 32, byte & 15, byte >> 4)
    if qh_off is not None:
        q = q | (((b[:, qh_off + e % 32].astype(np.int32) >> (e // 32)) & 1) << 4)
    sc, mn = _k_scales_mins(b[:, 4:16])
    d, dmin = _f16(b, 0), _f16(b, 2)
    scale = (d * sc.astype(np.float32))[:, e // 32]
    offset = (dmin * mn.astype(np.float32))[:, e // 32]
    return (scale * q.astype(np.float32) - offset).reshape(-1)


def dequantize_q4_k(data):
    return _k_affine(_blocks(data, "q4_k"), 16, None)


def dequantize_q5_k(data):
    return _k_affine(_blocks(data, "q5_k"), 48, 16)


def dequantize_q6_k(data):
    """Element e: half h = e // 128, r = e % 128, k = r // 32, l = r % 32. Low 4 bits: the (k // 2)-th nibble
    of ql[64h + 32·(k % 2) + l]; high 2 bits: bits 2k..2k+1 of qh[32h + l]; code − 32; int8 scale e // 16."""
    b = _blocks(data, "q6_k")
    e = np.arange(256)
    h, r = e // 128, e % 128
    k, l = r // 32, r % 32
    low = (b[:, 64 * h + 32 * (k % 2) + l].astype(np.int32) >> (4 * (k // 2))) & 15
    high = (b[:, 128 + 32 * h + l].astype(np.int32) >> (2 * k)) & 3
    q = (low | (high << 4)) - 32
    sc = b[:, 192:208].view(np.int8).astype(np.float32)
    return ((_f16(b, 208) * sc)[:, e // 16] * q.astype(np.float32)).reshape(-1)


DEQUANTIZE = {"q4_0": dequantize_q4_0, "q4_k": dequantize_q4_k, "q5_k": dequantize_q5_k, "q6_k": dequantize_q6_k}


def main(argv):
    if len(argv) != 4 or argv[1] not in DEQUANTIZE:
        print("usage: ggml_quants.py q4_0|q4_k|q5_k|q6_k IN.bin OUT.f32", file=sys.stderr)
        return 1
    with open(argv[2], "rb") as f:
        data = f.read()
    try:
        y = DEQUANTIZE[argv[1]](data)
    except ValueError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    y.astype("<f4").tofile(argv[3])
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
