"""Correctly rounded decimal-to-float64 conversion in compiled code, for the JSON scanner.

``decimal_to_float(mantissa, exponent, negative)`` turns a decimal number already split into
its digits and its power of ten into the float64 nearest to it (ties to even), the same
value as CPython's ``float(text)``, or says that it cannot decide. It is numba-compiled
(``kernel_cache.compiled``), so other compiled code calls it per number without leaving
nopython mode; Python code can call it too.

- ``mantissa``: the digits as an unsigned 64-bit integer, at most 19 of them (``<= 10**19 - 1``;
  any uint64 is in fact handled). From Python, pass values of 2**63 and up as ``np.uint64``:
  numba would otherwise try them against an int64 specialisation already compiled;
- ``exponent``: the power of ten, any 64-bit signed integer;
- ``negative``: the sign, kept also on zero (``-0.0``);
- returns ``(value, True)``, or ``(nan, False)`` when the exact answer is not given here: the
  result would overflow to infinity, or the exact value is below the smallest normal
  2**-1022 (subnormal results, non-zero values that underflow to zero, and the few decimals
  just below 2**-1022 that float() rounds up to it); and, in principle, a product that the
  128-bit approximation of ``10**exponent`` cannot place on one side of a rounding midpoint
  (no such input has been seen in millions of adversarial tests; N. Mushtak and D. Lemire,
  "Fast Number Parsing Without Fallback", 2023, arXiv:2212.06644, prove Eisel-Lemire's
  equivalent check never fires for up to 19 digits). The caller then falls back to an exact
  parser.

Method: Clinger's fast path when both the mantissa (``<= 2**53``) and ``10**|exponent|``
(``|exponent| <= 22``) are exact doubles, since one IEEE multiplication or division then
rounds correctly; otherwise the Eisel-Lemire algorithm (D. Lemire, "Number Parsing at a
Gigabyte per Second", Software: Practice and Experience 51(8), 2021, arXiv:2101.11408,
section 5; N. Tao, "The Eisel-Lemire ParseNumberF64 Algorithm", 2020): the mantissa, shifted
so its top bit is set, is multiplied by a 128-bit truncation of ``10**exponent`` and the top
54 bits of the product, with the bits below, give the rounded double unless the truncation
error could move the product across a rounding midpoint. Exact ties round to even: the
product is exact for ``0 <= exponent <= 27``, and for ``-4 <= exponent <= -1`` (the only other
powers where a decimal can be a tie) a candidate tie is confirmed in integer arithmetic.

>>> decimal_to_float(17813483283454374, -15, False)
(17.813483283454374, True)
>>> decimal_to_float(9007199254740993, 0, True)  # 2**53 + 1: a tie, to even
(-9007199254740992.0, True)
>>> decimal_to_float(5, -324, False)  # subnormal: left to the exact parser
(nan, False)
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Final, cast

import numpy as np
import numpy.typing as npt
from numba.cpython.unsafe import numbers as numba_intrinsics

from driftwarden.stream.decoding.scanner.kernel_cache import compiled

__all__ = ["decimal_to_float"]

# Outside these powers every mantissa of 1 to 19 digits overflows (1e309 and up) or falls
# below the smallest normal double (under 1e-323), results refused anyway.
_MIN_EXP10: Final = -342
_MAX_EXP10: Final = 308
# Powers whose 128-bit table entry is 5**q exactly with a zero low word (5**27 < 2**64), so the
# first 64x64-bit product is the exact product, and those exact in all 128 bits (5**55 < 2**128).
_EXACT_HI_WORD_MAX_EXP10: Final = 27
_EXACT_MAX_EXP10: Final = 55
# mantissa * 10**q is exactly a midpoint between two doubles, an odd 54-bit integer times a
# power of two, only if 5**|q| divides that odd number (q > 0: 5**q < 2**54, so q <= 23) or
# the mantissa divided by it (q < 0: 5**-q <= 2**64 / 2**53, so q >= -4). Products for
# 0 <= q <= 23 are exact, so -4 <= q <= -1 is the only place where an inexact product can
# hide a tie.
_TIE_MIN_EXP10: Final = -4
_SMALL_POWERS_OF_FIVE: Final = np.array([5**k for k in range(5)], dtype=np.uint64)

# Clinger's fast path: integers up to 2**53 and 1e0..1e22 are exact doubles.
_EXACT_POWERS_OF_TEN: Final = np.array([float(10**k) for k in range(23)], dtype=np.float64)
_MAX_FAST_EXP10: Final = 22

# numba types a Python int constant as int64, and uint64 mixed with int64 becomes float64,
# so every constant that meets a uint64 is a uint64 itself.
_U1: Final = np.uint64(1)
_U9: Final = np.uint64(9)
_U32: Final = np.uint64(32)
_U52: Final = np.uint64(52)
_U53: Final = np.uint64(53)
_U63: Final = np.uint64(63)
_LOW32: Final = np.uint64(0xFFFF_FFFF)
_ALL_ONES: Final = np.uint64(0xFFFF_FFFF_FFFF_FFFF)
_FRACTION_MASK: Final = np.uint64((1 << 52) - 1)
_SIGN_BIT: Final = np.uint64(1 << 63)
_MAX_FAST_MANTISSA: Final = np.uint64(1 << 53)
# floor(q * log2(10)) == (q * _LOG2_10_Q16) >> 16 for every q in the table's range
# (checked against the table by the tests).
_LOG2_10_Q16: Final = 217706
_EXPONENT_BIAS: Final = 1023
# numba's count-leading-zeros intrinsic (LLVM ctlz, one instruction); its stub types it as an
# intrinsic's typing function, not as what compiled code calls.
_leading_zeros = cast(Callable[[np.uint64], np.uint64], numba_intrinsics.leading_zeros)


def _truncated_powers_of_ten(
    min_q: int, max_q: int
) -> tuple[npt.NDArray[np.uint64], npt.NDArray[np.uint64], npt.NDArray[np.int64]]:
    """High words, low words and binary exponents e_q of T_q = floor(10**q * 2**-e_q).

    e_q is chosen so that 2**127 <= 10**q * 2**-e_q < 2**128; the truncation never exceeds
    the true value, and falls short of it by less than one unit of the low word.
    """
    count = max_q - min_q + 1
    high = np.empty(count, dtype=np.uint64)
    low = np.empty(count, dtype=np.uint64)
    binary_exponents = np.empty(count, dtype=np.int64)
    for i, q in enumerate(range(min_q, max_q + 1)):
        power_of_five = 5 ** abs(q)
        bits = power_of_five.bit_length()
        if q >= 0:  # 10**q = 5**q * 2**q, and 5**q is shifted to 128 bits
            if bits <= 128:
                truncated = power_of_five << (128 - bits)
            else:
                truncated = power_of_five >> (bits - 128)
            binary_exponents[i] = q + bits - 128
        else:  # 10**q = 2**q / 5**-q; 2**(127 + bits) / 5**-q lies in (2**127, 2**128)
            truncated = (1 << (127 + bits)) // power_of_five
            binary_exponents[i] = q - 127 - bits
        high[i] = truncated >> 64
        low[i] = truncated & ((1 << 64) - 1)
    return high, low, binary_exponents


# Generated at import from exact integers; numba freezes these global arrays into the
# compiled code as constants.
_POW10_HIGH, _POW10_LOW, _POW10_BINARY_EXPONENTS = _truncated_powers_of_ten(_MIN_EXP10, _MAX_EXP10)


@compiled()
def _mul_64x64_128(a: np.uint64, b: np.uint64) -> tuple[np.uint64, np.uint64]:
    """The full 128-bit product of two unsigned 64-bit integers, as (high word, low word)."""
    a_lo = a & _LOW32
    a_hi = a >> _U32
    b_lo = b & _LOW32
    b_hi = b >> _U32
    lo_lo = a_lo * b_lo
    lo_hi = a_lo * b_hi
    hi_lo = a_hi * b_lo
    hi_hi = a_hi * b_hi
    # Three values below 2**32 each: the sum cannot overflow 64 bits.
    middle = (lo_lo >> _U32) + (lo_hi & _LOW32) + (hi_lo & _LOW32)
    low = (middle << _U32) | (lo_lo & _LOW32)
    high = hi_hi + (lo_hi >> _U32) + (hi_lo >> _U32) + (middle >> _U32)
    return high, low


@compiled()
def _next_is_midpoint(high: np.uint64) -> bool:
    """Whether ``high + 1`` is the top word of a midpoint between two doubles.

    The product is known only to within a carry into ``high``; the rounding it gives can
    change only if that carry lands exactly on a midpoint (a 54-bit prefix whose last bit
    is 1, with every bit below it 0).
    """
    after = high + _U1
    shift = _U9 + (after >> _U63)
    return (after & ((_U1 << (shift + _U1)) - _U1)) == (_U1 << shift)


@compiled()
def _is_midpoint(mantissa: np.uint64, k: np.int64, odd54: np.uint64, scale: np.int64) -> bool:
    """Whether ``mantissa / 10**k == odd54 * 2**scale`` exactly (1 <= k <= 4).

    That is ``mantissa == odd54 * 5**k * 2**(k + scale)``; ``odd54 * 5**k < 2**54 * 5**4``
    fits in 64 bits.
    """
    twos = k + scale
    if twos < 0 or twos > 63:
        return False
    shift = np.uint64(twos)
    return ((mantissa >> shift) << shift) == mantissa and (mantissa >> shift) == (
        odd54 * _SMALL_POWERS_OF_FIVE[k]
    )


@compiled()
def decimal_to_float(
    mantissa: int | np.uint64, exponent: int | np.int64, negative: bool
) -> tuple[float, bool]:
    """``(-1 if negative else 1) * mantissa * 10**exponent`` rounded to float64, and success.

    Returns ``(nan, False)`` for overflowing, subnormal or underflowing results (and the, in
    principle possible, product too close to a rounding midpoint); see the module docstring.
    """
    m = np.uint64(mantissa)
    q = np.int64(exponent)
    if m == 0:
        return (-0.0 if negative else 0.0), True
    if m <= _MAX_FAST_MANTISSA and -_MAX_FAST_EXP10 <= q <= _MAX_FAST_EXP10:
        # Both operands are exact doubles, so the one IEEE operation rounds correctly.
        if q >= 0:
            value = np.float64(m) * _EXACT_POWERS_OF_TEN[q]
        else:
            value = np.float64(m) / _EXACT_POWERS_OF_TEN[-q]
        return (-value if negative else value), True
    if q < _MIN_EXP10 or q > _MAX_EXP10:
        return np.nan, False

    index = q - _MIN_EXP10
    clz = _leading_zeros(m)
    normalized = m << clz
    # product = normalized * T_q (192 bits: high, middle, low), T_q <= true power < T_q + 1,
    # so the true product lies in [product, product + normalized) in units of the low word.
    # It does so in units of the middle word when T_q's low word is left out, as here, and
    # that is enough unless a carry from below could reach a rounding midpoint.
    high, middle = _mul_64x64_128(normalized, _POW10_HIGH[index])
    low = np.uint64(0)
    snapped = False
    if (
        not 0 <= q <= _EXACT_HI_WORD_MAX_EXP10
        and middle > _ALL_ONES - normalized
        and _next_is_midpoint(high)
    ):
        carry_high, low = _mul_64x64_128(normalized, _POW10_LOW[index])
        summed = middle + carry_high
        if summed < middle:
            high += _U1
        middle = summed
        if (
            not 0 <= q <= _EXACT_MAX_EXP10
            and middle == _ALL_ONES
            and low > _ALL_ONES - normalized
            and _next_is_midpoint(high)
        ):
            # The true product may lie on either side of the midpoint just above. For
            # -4 <= q <= -1 only an exact tie (truncated to just below it) can be this close:
            # any other decimal m / 10**k differs from a midpoint by more than 2**-68 of its
            # value, and the truncation error is below 2**-126. So take the midpoint, and
            # confirm it exactly once its prefix is known.
            if not _TIE_MIN_EXP10 <= q < 0:
                return np.nan, False
            high += _U1
            middle = np.uint64(0)
            low = np.uint64(0)
            snapped = True

    top_bit = high >> _U63
    shift = _U9 + top_bit
    prefix54 = high >> shift  # the product's top 54 bits: 53 for the double, 1 to round
    # value = product * 2**(e_q - clz), and the prefix is the product's bits from
    # 190 + top_bit down, so value ~= prefix54 * 2**scale.
    e_q = ((q * _LOG2_10_Q16) >> 16) - 127
    scale = e_q - np.int64(clz) + np.int64(shift) + 128
    if snapped and not _is_midpoint(m, -q, prefix54, scale):
        return np.nan, False
    mantissa53 = prefix54 >> _U1
    if prefix54 & _U1:  # at or above the midpoint between mantissa53 and mantissa53 + 1
        # The true product is never below the truncated one, so it rounds up unless it is
        # exactly the midpoint and mantissa53 is the even neighbour.
        on_midpoint = (high & ((_U1 << shift) - _U1)) == 0 and middle == 0 and low == 0
        tie_to_even = (
            on_midpoint
            and (mantissa53 & _U1) == 0
            and (
                0 <= q <= _EXACT_HI_WORD_MAX_EXP10  # the product is exact
                or (_TIE_MIN_EXP10 <= q < 0 and _is_midpoint(m, -q, prefix54, scale))
            )
        )
        if not tie_to_even:
            mantissa53 += _U1

    # mantissa53 is in [2**52, 2**53] in units of 2**(scale + 1).
    biased = scale + 1 + 52 + _EXPONENT_BIAS
    if (mantissa53 >> _U53) != 0:  # rounding carried into a 54th bit
        mantissa53 >>= _U1
        biased += 1
    if biased <= 0 or biased >= 0x7FF:
        return np.nan, False  # subnormal / underflow, or overflow to infinity
    bits = (mantissa53 & _FRACTION_MASK) | (np.uint64(biased) << _U52)
    if negative:
        bits |= _SIGN_BIT
    return np.uint64(bits).view(np.float64), True
