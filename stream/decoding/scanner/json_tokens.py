"""JSON tokens read from bytes in compiled code, for the record scanner (``json_scan``).

Each function takes the bytes of a batch (``buf``, a uint8 array), a position and the end of
the current payload, and returns where the token ends, or -1 when the token is not one the
scanner handles (see ``json_scan`` for the subset). Numbers are converted exactly by
``decimal_float``. Each is compiled by ``kernel_cache.compiled``, whose disk cache goes
stale when any scanner module changes (numba's own checks only the function's file).

>>> buf = np.frombuffer(b'-12.5e1, "FR"', dtype=np.uint8)
>>> number(buf, 0, buf.size), string_end(buf, 10, buf.size, True)
((-125.0, 7), 12)
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from driftwarden.stream.decoding.scanner.decimal_float import decimal_to_float
from driftwarden.stream.decoding.scanner.kernel_cache import compiled

__all__ = [
    "BACKSLASH",
    "CARRIAGE_RETURN",
    "COLON",
    "COMMA",
    "DIGIT_0",
    "DIGIT_1",
    "DIGIT_9",
    "DOT",
    "FIRST_NON_ASCII",
    "LEFT_BRACE",
    "LOWER_A",
    "LOWER_E",
    "LOWER_F",
    "LOWER_L",
    "LOWER_N",
    "LOWER_R",
    "LOWER_S",
    "LOWER_T",
    "LOWER_U",
    "MINUS",
    "NEWLINE",
    "PLUS",
    "QUOTE",
    "RIGHT_BRACE",
    "SPACE",
    "TAB",
    "UPPER_E",
    "hash_bytes",
    "is_null",
    "number",
    "same_bytes",
    "scalar_end",
    "skip_space",
    "string_end",
]

# JSON's bytes by name; numba folds these module constants into the compiled code.
TAB: Final = ord("\t")
NEWLINE: Final = ord("\n")
CARRIAGE_RETURN: Final = ord("\r")
SPACE: Final = ord(" ")  # every JSON whitespace byte is <= SPACE
QUOTE: Final = ord('"')
PLUS: Final = ord("+")
COMMA: Final = ord(",")
MINUS: Final = ord("-")
DOT: Final = ord(".")
DIGIT_0: Final = ord("0")
DIGIT_1: Final = ord("1")
DIGIT_9: Final = ord("9")
COLON: Final = ord(":")
UPPER_E: Final = ord("E")
BACKSLASH: Final = ord("\\")
LOWER_A: Final = ord("a")
LOWER_E: Final = ord("e")
LOWER_F: Final = ord("f")
LOWER_L: Final = ord("l")
LOWER_N: Final = ord("n")
LOWER_R: Final = ord("r")
LOWER_S: Final = ord("s")
LOWER_T: Final = ord("t")
LOWER_U: Final = ord("u")
LEFT_BRACE: Final = ord("{")
RIGHT_BRACE: Final = ord("}")
FIRST_NON_ASCII: Final = 0x80

_FNV_OFFSET: Final = np.uint64(0xCBF29CE484222325)
_FNV_PRIME: Final = np.uint64(0x100000001B3)


@compiled(inline="always")
def hash_bytes(buf: npt.NDArray[np.uint8], start: int, stop: int) -> np.uint64:
    """FNV-1a of ``buf[start:stop]``."""
    h = _FNV_OFFSET
    for i in range(start, stop):
        h = (h ^ np.uint64(buf[i])) * _FNV_PRIME
    return h


@compiled()
def same_bytes(
    a: npt.NDArray[np.uint8], a0: int, a1: int, b: npt.NDArray[np.uint8], b0: int
) -> bool:
    for i in range(a1 - a0):
        if a[a0 + i] != b[b0 + i]:
            return False
    return True


@compiled()
def skip_space(buf: npt.NDArray[np.uint8], pos: int, end: int) -> int:
    # Called only at a byte <= 32: a call costs more than the usual single check (passing
    # the array counts references), so callers check the byte first.
    while pos < end:
        c = buf[pos]
        if c > SPACE or (
            c != SPACE and c != NEWLINE and c != CARRIAGE_RETURN and c != TAB
        ):  # every space is <= 32
            break
        pos += 1
    return pos


@compiled(inline="always")
def string_end(buf: npt.NDArray[np.uint8], pos: int, end: int, ascii_only: bool) -> int:
    """Position of the closing quote of the string whose content starts at ``pos``; -1 if
    it has an escape or a control character (or a non-ASCII byte, with ``ascii_only``)."""
    while pos < end:
        c = buf[pos]
        if c == QUOTE:
            return pos
        if c == BACKSLASH or c < SPACE or (ascii_only and c >= FIRST_NON_ASCII):
            return -1
        pos += 1
    return -1


# Inlined: the scan loop calls it for every number of every record, and the call was
# measurably slower (docs/benchmarks.md, decoder).
@compiled(inline="always")
def number(buf: npt.NDArray[np.uint8], pos: int, end: int) -> tuple[float, int]:
    """The JSON number at ``pos`` and the position after it; position -1 if it is not one
    this scanner converts exactly."""
    negative = False
    if pos < end and buf[pos] == MINUS:
        negative = True
        pos += 1
    if pos >= end:
        return 0.0, -1
    mantissa = np.uint64(0)
    digits = 0  # significant digits taken into the mantissa
    exponent = 0
    c = buf[pos]
    if c == DIGIT_0:  # a leading 0 is the whole integer part
        pos += 1
    elif DIGIT_1 <= c <= DIGIT_9:
        while pos < end and DIGIT_0 <= buf[pos] <= DIGIT_9:
            mantissa = mantissa * np.uint64(10) + np.uint64(buf[pos] - DIGIT_0)
            digits += 1
            pos += 1
    else:
        return 0.0, -1
    integer = True
    if pos < end and buf[pos] == DOT:
        integer = False
        pos += 1
        start = pos
        while pos < end and DIGIT_0 <= buf[pos] <= DIGIT_9:
            d = buf[pos] - DIGIT_0
            if digits or d:
                mantissa = mantissa * np.uint64(10) + np.uint64(d)
                digits += 1
            exponent -= 1
            pos += 1
        if pos == start:
            return 0.0, -1
    if digits > 19:
        return 0.0, -1
    if pos < end and (buf[pos] == LOWER_E or buf[pos] == UPPER_E):
        integer = False
        pos += 1
        sign = 1
        if pos < end and (buf[pos] == PLUS or buf[pos] == MINUS):
            sign = -1 if buf[pos] == MINUS else 1
            pos += 1
        start = pos
        written = 0
        while pos < end and DIGIT_0 <= buf[pos] <= DIGIT_9:
            if written < 100_000:  # beyond that only its being huge matters
                written = written * 10 + (buf[pos] - DIGIT_0)
            pos += 1
        if pos == start:
            return 0.0, -1
        exponent += sign * written
    if integer and mantissa == 0:
        return 0.0, pos  # JSON's -0 is the integer 0
    value, ok = decimal_to_float(mantissa, exponent, negative)
    if not ok:
        return 0.0, -1
    return value, pos


@compiled()
def scalar_end(buf: npt.NDArray[np.uint8], pos: int, end: int) -> int:
    """The position after the scalar value at ``pos`` (checked), or -1."""
    if pos >= end:
        return -1
    c = buf[pos]
    if c == QUOTE:
        stop = string_end(buf, pos + 1, end, True)
        return -1 if stop < 0 else stop + 1
    if c == LOWER_T:
        ok = (
            pos + 4 <= end
            and buf[pos + 1] == LOWER_R
            and buf[pos + 2] == LOWER_U
            and buf[pos + 3] == LOWER_E
        )
        return pos + 4 if ok else -1
    if c == LOWER_F:
        ok = (
            pos + 5 <= end
            and buf[pos + 1] == LOWER_A
            and buf[pos + 2] == LOWER_L
            and buf[pos + 3] == LOWER_S
            and buf[pos + 4] == LOWER_E
        )
        return pos + 5 if ok else -1
    if c == LOWER_N:
        return pos + 4 if is_null(buf, pos, end) else -1
    return number(buf, pos, end)[1]


@compiled()
def is_null(buf: npt.NDArray[np.uint8], pos: int, end: int) -> bool:
    return (
        pos + 4 <= end
        and buf[pos] == LOWER_N
        and buf[pos + 1] == LOWER_U
        and buf[pos + 2] == LOWER_L
        and buf[pos + 3] == LOWER_L
    )
