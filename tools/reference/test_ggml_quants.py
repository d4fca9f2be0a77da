#!/usr/bin/env python3
# Self-tests of ggml_quants.py on blocks built by hand from the format description, with values worked out
# here element by element (the C++ decoder is checked against ggml_quants.py by tests/convert/).
# Run: /usr/bin/python3 -m unittest discover -s tools/reference -p 'test_*.py'

import os
import subprocess
import sys
import tempfile
import unittest

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import ggml_quants as gq  # noqa: E402


def f16_bytes(v):
    return np.array([v], dtype="<f2").tobytes()


class HandBuiltBlocks(unittest.TestCase):
    def test_q4_0(self):
        qs = bytes([(j % 16) | ((15 - j % 16) << 4) for j in range(16)])
        y = gq.dequantize_q4_0(f16_bytes(0.5) + qs)
        self.assertEqual(y[3], (3 - 8) * 0.5)          # low nibble of byte 3
        self.assertEqual(y[16 + 3], (12 - 8) * 0.5)    # high nibble of byte 3
        self.assertEqual(len(y), 32)

    def k_scales(self, sc, mn):
        s = bytearray(12)
        for j in range(4):
            s[j] = (sc[j] & 63) | ((sc[j + 4] >> 4) << 6)
            s[j + 4] = (mn[j] & 63) | ((mn[j + 4] >> 4) << 6)
            s[j + 8] = (sc[j + 4] & 15) | ((mn[j + 4] & 15) << 4)
        return bytes(s)

    def test_q4_k_and_q5_k(self):
        sc = [1, 2, 3, 63, 17, 48, 33, 5]
        mn = [0, 7, 63, 1, 50, 2, 31, 16]
        header = f16_bytes(0.25) + f16_bytes(0.125) + self.k_scales(sc, mn)
        qs = bytes((i * 7) % 256 for i in range(128))
        y = gq.dequantize_q4_k(header + qs)
        for e in (0, 31, 32, 63, 64, 130, 200, 255):
            byte = qs[32 * (e // 64) + e % 32]
            q = byte & 15 if e % 64 < 32 else byte >> 4
            j = e // 32
            self.assertEqual(y[e], np.float32(0.25 * sc[j] * q - 0.125 * mn[j]), e)
        qh = bytes((i * 37) % 256 for i in range(32))
        y5 = gq.dequantize_q5_k(header + qh + qs)
        for e in (0, 33, 100, 255):
            byte = qs[32 * (e // 64) + e % 32]
            q = (byte & 15 if e % 64 < 32 else byte >> 4) + 16 * ((qh[e % 32] >> (e // 32)) & 1)
            j = e // 32
            self.assertEqual(y5[e], np.float32(0.25 * sc[j] * q - 0.125 * mn[j]), e)

    def test_q6_k(self):
        codes = [(7 * e + 3) % 64 for e in range(256)]  # 6-bit codes, value code − 32
        ql, qh = bytearray(128), bytearray(64)
        for e, c in enumerate(codes):
            h, r = divmod(e, 128)
            k, l = divmod(r, 32)
            ql[64 * h + 32 * (k % 2) + l] |= (c & 15) << (4 * (k // 2))
            qh[32 * h + l] |= (c >> 4) << (2 * k)
        scales = np.array([(-1) ** j * (j + 1) for j in range(16)], dtype=np.int8).tobytes()
        y = gq.dequantize_q6_k(bytes(ql) + bytes(qh) + scales + f16_bytes(0.5))
        for e in range(256):
            self.assertEqual(y[e], np.float32(0.5 * (-1) ** (e // 16) * (e // 16 + 1) * (codes[e] - 32)), e)

    def test_cli_and_bad_length(self):
        with tempfile.TemporaryDirectory() as d:
            src, out = os.path.join(d, "in.bin"), os.path.join(d, "out.f32")
            with open(src, "wb") as f:
                f.write(f16_bytes(1.0) + bytes(16) * 1)
            self.assertEqual(subprocess.run([sys.executable, gq.__file__, "q4_0", src, out]).returncode, 0)
            self.assertTrue(np.all(np.fromfile(out, "<f4") == -8.0))
            with open(src, "ab") as f:
                f.write(b"\0")
            r = subprocess.run([sys.executable, gq.__file__, "q4_0", src, out], capture_output=True, text=True)
            self.assertEqual(r.returncode, 1)
            self.assertIn("whole number", r.stderr)


if __name__ == "__main__":
    unittest.main()
