"""dlib's portable binary serialization (dlib/serialize.h, dlib/float_details.h, dlib/dnn/tensor.h), read-only.

- integer: one control byte (low 4 bits: how many value bytes follow; 0x80: negative), then the
  magnitude little-endian. A zero is the single byte 0x00.
- float / double: two integers, a 64-bit mantissa and a 16-bit exponent, value = mantissa * 2**exponent;
  exponents 32000 / 32001 / 32002 stand for +inf / -inf / NaN.
- bool: the ASCII character '1' or '0'.
- string: its length (an integer), then the bytes.
- tensor: version (1: every value a dlib float; 2: raw little-endian float32), then the four
  dimensions num_samples, k, nr, nc (integers), then the values.
- alias_tensor (a view's shape): version 1, then the four dimensions.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

FLOAT_INF, FLOAT_NINF, FLOAT_NAN = 32000, 32001, 32002


class DlibFormatError(ValueError):
    """The file is not (or not entirely) dlib's serialization of the expected object."""

    def __init__(self, path: str | Path, detail: str):
        super().__init__(f"{path}: {detail}")
        self.path, self.detail = Path(path), detail


class DlibReader:
    """A cursor over the bytes of a dlib-serialized file; every error names the file and the offset."""

    def __init__(self, data: bytes, path: str | Path):
        self.data = memoryview(data)
        self.path = Path(path)
        self.pos = 0

    def fail(self, what: str) -> DlibFormatError:
        return DlibFormatError(self.path, f"{what} at byte {self.pos} of {len(self.data)}")

    def take(self, n: int) -> memoryview:
        if self.pos + n > len(self.data):
            raise self.fail(f"file ends while reading {n} bytes (truncated?)")
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk

    def peek_byte(self) -> int:
        if self.pos >= len(self.data):
            raise self.fail("file ends (truncated?)")
        return self.data[self.pos]

    def integer(self) -> int:
        control = self.take(1)[0]
        size = control & 0x0F
        if control & 0x70 or size > 8:
            raise self.fail(f"byte 0x{control:02x} is not a dlib integer control byte")
        value = int.from_bytes(self.take(size), "little") if size else 0
        return -value if control & 0x80 else value

    def real(self) -> float:
        """A float or double (both are written the same way)."""
        if self.peek_byte() & 0x70:
            raise self.fail("old ASCII float encoding (not supported) or not a float")
        mantissa, exponent = self.integer(), self.integer()
        if exponent == FLOAT_INF:
            return float("inf")
        if exponent == FLOAT_NINF:
            return float("-inf")
        if exponent == FLOAT_NAN:
            return float("nan")
        return float(np.ldexp(np.float64(mantissa), exponent))

    def boolean(self) -> bool:
        char = self.take(1).tobytes()
        if char not in (b"0", b"1"):
            raise self.fail(f"{char!r} is not a dlib bool ('0' or '1')")
        return char == b"1"

    def string(self, max_length: int = 256) -> str:
        length = self.integer()
        if not 0 <= length <= max_length:
            raise self.fail(f"string length {length} is implausible")
        return self.take(length).tobytes().decode("latin-1")

    def shape4(self) -> tuple[int, int, int, int]:
        shape = tuple(self.integer() for _ in range(4))
        if any(d < 0 for d in shape):
            raise self.fail(f"negative tensor dimension {shape}")
        return shape

    def tensor(self) -> np.ndarray:
        """A resizable_tensor as float32 of shape (num_samples, k, nr, nc)."""
        version = self.integer()
        if version not in (1, 2):
            raise self.fail(f"tensor version {version} (expected 1 or 2)")
        shape = self.shape4()
        count = int(np.prod(shape))
        if version == 2:
            values = np.frombuffer(self.take(4 * count), dtype="<f4")
        else:
            values = np.array([self.real() for _ in range(count)], dtype=np.float32)
        return values.astype(np.float32).reshape(shape)

    def alias_tensor(self) -> tuple[int, int, int, int]:
        version = self.integer()
        if version != 1:
            raise self.fail(f"alias_tensor version {version} (expected 1)")
        return self.shape4()

    def at_end(self) -> bool:
        return self.pos == len(self.data)
