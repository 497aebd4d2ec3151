"""decimal_to_float: CPython's float(text) bit for bit, or a refusal only where it promises one."""

from __future__ import annotations

import math
import struct
from fractions import Fraction

import numba
import numpy as np
import numpy.typing as npt
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from driftwarden.stream.decoding.scanner.decimal_float import (
    _MAX_EXP10,
    _MIN_EXP10,
    _POW10_BINARY_EXPONENTS,
    _POW10_HIGH,
    _POW10_LOW,
    _mul_64x64_128,
    decimal_to_float,
)

SMALLEST_NORMAL = 2.2250738585072014e-308  # 2**-1022
MAX_MANTISSA = 10**19 - 1
UINT64_MAX = 2**64 - 1


def float_bits(x: float) -> int:
    """The IEEE-754 bits of ``x``: tells -0.0 from 0.0 and compares NaNs by payload."""
    result: int = struct.unpack("<Q", struct.pack("<d", x))[0]
    return result


def split_decimal(text: str) -> tuple[int, int, bool] | None:
    """``text`` (Python's float repr or JSON number syntax) as (mantissa, exponent, negative).

    None when the digits, without leading zeros, are more than 19 (the converter's limit).
    """
    negative = text.startswith("-")
    body = text.lstrip("+-").lower()
    significand, _, exponent_text = body.partition("e")
    integer_part, _, fraction_part = significand.partition(".")
    digits = (integer_part + fraction_part).lstrip("0") or "0"
    if len(digits) > 19:
        return None
    exponent = int(exponent_text or "0") - len(fraction_part)
    return int(digits), exponent, negative


def convert(mantissa: int, exponent: int, negative: bool) -> tuple[float, bool]:
    # A Python int of 2**63 or more cannot go to the int64 specialisation numba compiled first.
    value, ok = decimal_to_float(np.uint64(mantissa), exponent, negative)
    return float(value), bool(ok)


def below_normal_range(mantissa: int, exponent: int) -> bool:
    """Whether ``mantissa * 10**exponent`` is exactly below 2**-1022 (mantissa > 0)."""
    if exponent >= 0:
        return False
    return mantissa * 2**1022 < 10**-exponent


@numba.njit
def convert_all(
    mantissas: npt.NDArray[np.uint64],
    exponents: npt.NDArray[np.int64],
    negatives: npt.NDArray[np.bool_],
) -> tuple[npt.NDArray[np.float64], npt.NDArray[np.bool_]]:
    values = np.empty(mantissas.size, dtype=np.float64)
    ok = np.empty(mantissas.size, dtype=np.bool_)
    for i in range(mantissas.size):
        values[i], ok[i] = decimal_to_float(mantissas[i], exponents[i], negatives[i])
    return values, ok


def test_split_decimal_reads_reprs_and_json_numbers() -> None:
    assert split_decimal("-1.5e-07") == (15, -8, True)
    assert split_decimal("0.000123") == (123, -6, False)
    assert split_decimal("1e+22") == (1, 22, False)
    assert split_decimal("-0.0") == (0, -1, True)
    assert split_decimal("12345678901234567890") is None


@settings(max_examples=2500, deadline=None)
@given(st.floats(allow_nan=False, allow_infinity=False))
def test_the_shortest_repr_of_any_double_converts_back_to_it(x: float) -> None:
    parts = split_decimal(repr(x))
    assume(parts is not None)  # repr has at most 17 digits, so this never skips
    assert parts is not None
    value, ok = convert(*parts)
    if x == 0.0 or abs(x) >= SMALLEST_NORMAL:
        assert ok, repr(x)
        assert float_bits(value) == float_bits(x), repr(x)
    else:  # subnormal: refused, left to the exact parser
        assert not ok, repr(x)
        assert math.isnan(value)


@settings(max_examples=2500, deadline=None)
@given(
    st.integers(0, MAX_MANTISSA),
    st.integers(-350, 330),
    st.booleans(),
)
def test_any_decimal_converts_exactly_and_is_refused_only_out_of_the_normal_range(
    mantissa: int, exponent: int, negative: bool
) -> None:
    expected = float(f"{'-' if negative else ''}{mantissa}e{exponent}")
    value, ok = convert(mantissa, exponent, negative)
    if ok:
        assert float_bits(value) == float_bits(expected)
    else:
        assert math.isnan(value)
        assert math.isinf(expected) or below_normal_range(mantissa, exponent)


@settings(max_examples=1500, deadline=None)
@given(st.integers(-4, 23), st.integers(0, 2**53 - 1), st.integers(0, 10), st.integers(-1, 1))
def test_exact_ties_round_half_to_even_and_their_neighbours_round_correctly(
    exponent: int, position: int, twos: int, nudge: int
) -> None:
    # A tie is an odd 54-bit integer times a power of two. For exponent >= 0 the odd number
    # is r * 5**exponent (r odd) and the mantissa r * 2**twos; for exponent = -k < 0 the
    # mantissa is odd * 5**k * 2**twos. Only -4 <= exponent <= 23 can give ties.
    power_of_five = 5 ** abs(exponent)
    if exponent >= 0:
        low, high = -(-(2**53) // power_of_five), (2**54 - 1) // power_of_five
        r = low + position % (high - low + 1)
        if r % 2 == 0:
            r = r + 1 if r < high else r - 1
        assert r % 2 == 1 and 2**53 <= r * power_of_five < 2**54
        mantissa = r << twos
    else:
        odd = 2 * (2**52 + position % 2**52) + 1
        mantissa = odd * power_of_five << twos
    mantissa += nudge
    assume(0 < mantissa <= MAX_MANTISSA)
    value, ok = convert(mantissa, exponent, False)
    assert ok
    assert float_bits(value) == float_bits(float(f"{mantissa}e{exponent}"))


@settings(max_examples=2000, deadline=None)
@given(
    # Half the examples near the powers where the product's exactness changes (22, 27, 55).
    st.one_of(st.integers(-325, 289), st.integers(-30, 60)),
    st.integers(0, 2**52 - 1),
    st.integers(-2, 2),
    st.booleans(),
)
def test_19_digit_decimals_nearest_to_a_midpoint_round_correctly(
    exponent: int, position: int, nudge: int, negative: bool
) -> None:
    # The midpoint odd * 2**twos lies in [10**(exponent + 18), 10**(exponent + 19)), so the
    # 19-digit mantissa nearest to it, times 10**exponent, is within about 2**-64 of it:
    # inside the first product's error window a good part of the time, which exercises the
    # refinement with the table's low word and the carry checks for every power of ten.
    odd = 2 * (2**52 + position) + 1
    twos = math.ceil((exponent + 18) * math.log2(10)) - 53
    midpoint = Fraction(odd) * Fraction(2) ** twos
    mantissa = round(midpoint / Fraction(10) ** exponent) + nudge
    assume(0 < mantissa <= MAX_MANTISSA)
    expected = float(f"{'-' if negative else ''}{mantissa}e{exponent}")
    value, ok = convert(mantissa, exponent, negative)
    # All normal, so nothing may be refused: Mushtak and Lemire ("Fast Number Parsing Without
    # Fallback", 2023) prove Eisel-Lemire's equivalent check never fires for 19 digits.
    assert abs(expected) >= SMALLEST_NORMAL and not math.isinf(expected)
    assert ok
    assert float_bits(value) == float_bits(expected)


@pytest.mark.parametrize(
    ("mantissa", "exponent", "negative", "expected"),
    [
        (0, 0, False, "0.0"),
        (0, 0, True, "-0.0"),
        (0, 10**6, True, "-0.0"),
        (0, -(10**6), False, "0.0"),
        (1, 0, False, "1.0"),
        (1, -1, False, "0.1"),
        (1, 22, False, "1e22"),
        (1, 23, False, "1e23"),
        (17813483283454374, -15, False, "17.813483283454374"),
        (3933414581097902, -16, True, "-0.3933414581097902"),
        (123456789012345678, 0, False, "123456789012345678"),
        (MAX_MANTISSA, 0, False, "9999999999999999999"),
        (MAX_MANTISSA, -19, True, "-0.9999999999999999999"),
        # 2**53 + 1 and 2**53 + 3 are ties: to the even neighbours 2**53 and 2**53 + 4.
        (9007199254740993, 0, False, "9007199254740992"),
        (9007199254740995, 0, False, "9007199254740996"),
        (90071992547409930, -1, False, "9007199254740992"),
        # 4832804732154234.5 lies halfway between two doubles 1 apart (q = -1 tie).
        (48328047321542345, -1, False, "4832804732154234"),
        (11258999068426241, -1, False, "1125899906842624.1"),
        (22250738585072014, -324, False, "2.2250738585072014e-308"),
        (17976931348623157, 292, False, "1.7976931348623157e308"),
        (1797693134862315708, 290, True, "-1.7976931348623157e308"),
        (5, -324, False, None),  # the smallest subnormal
        (49406564584124654, -340, True, None),  # the same, with 17 digits
        (22250738585072009, -324, False, None),  # the largest subnormal
        # Rounds to 2**-1022 in float(), but its exact value is below it (in the subnormal
        # range, at 53 bits it would stay below): refused as subnormal.
        (22250738585072012, -324, False, None),
        (1, 309, False, None),
        (17976931348623159, 292, False, None),  # rounds to infinity
        (1, -400, False, None),
        (1, 10**18, False, None),
        (1, -(10**18), True, None),
    ],
)
def test_known_cases(mantissa: int, exponent: int, negative: bool, expected: str | None) -> None:
    value, ok = convert(mantissa, exponent, negative)
    if expected is None:
        assert not ok
        assert math.isnan(value)
    else:
        assert ok
        assert float_bits(value) == float_bits(float(expected))
        assert float_bits(value) == float_bits(
            float(f"{'-' if negative else ''}{mantissa}e{exponent}")
        )


def test_called_from_compiled_code_it_matches_float_on_random_decimals() -> None:
    rng = np.random.default_rng(20240611)
    n = 100_000
    digits = rng.integers(1, 20, n).astype(np.uint64)
    mantissas = rng.integers(0, np.uint64(10) ** digits, dtype=np.uint64)
    exponents = rng.integers(-345, 312, n)
    negatives = rng.random(n) < 0.5
    values, ok = convert_all(mantissas, exponents, negatives)
    for m, e, neg, value, accepted in zip(
        mantissas.tolist(), exponents.tolist(), negatives.tolist(), values, ok, strict=True
    ):
        expected = float(f"{'-' if neg else ''}{m}e{e}")
        if accepted:
            assert float_bits(value) == float_bits(expected), (m, e, neg)
        else:
            assert math.isinf(expected) or below_normal_range(m, e), (m, e, neg)


def test_for_every_power_of_ten_decimals_nearest_to_midpoints_convert_exactly() -> None:
    # 30 seeded midpoints per power (as in the hypothesis test above), each with the 19-digit
    # mantissa nearest to it and its two neighbours, converted in one compiled loop.
    rng = np.random.default_rng(7)
    cases = []
    for exponent in range(-325, 290):
        twos = math.ceil((exponent + 18) * math.log2(10)) - 53
        for position in rng.integers(0, 2**52, 30).tolist():
            odd = 2 * (2**52 + position) + 1
            numerator = odd * 2 ** max(twos, 0) * 10 ** max(-exponent, 0)
            denominator = 2 ** max(-twos, 0) * 10 ** max(exponent, 0)
            nearest = (2 * numerator + denominator) // (2 * denominator)
            cases += [(nearest + nudge, exponent) for nudge in (-1, 0, 1) if nearest + nudge > 0]
    mantissas = np.array([m for m, _ in cases], dtype=np.uint64)
    exponents = np.array([e for _, e in cases], dtype=np.int64)
    values, ok = convert_all(mantissas, exponents, np.zeros(len(cases), dtype=np.bool_))
    assert ok.all()
    for (mantissa, exponent), value in zip(cases, values.tolist(), strict=True):
        assert float_bits(value) == float_bits(float(f"{mantissa}e{exponent}")), (
            mantissa,
            exponent,
        )


def test_the_power_table_brackets_every_power_of_ten() -> None:
    for index, q in enumerate(range(_MIN_EXP10, _MAX_EXP10 + 1)):
        truncated = int(_POW10_HIGH[index]) << 64 | int(_POW10_LOW[index])
        e_q = int(_POW10_BINARY_EXPONENTS[index])
        assert 2**127 <= truncated < 2**128
        # truncated <= 10**q * 2**-e_q < truncated + 1, as integers: numerator / denominator.
        numerator = 10 ** max(q, 0) * 2 ** max(-e_q, 0)
        denominator = 10 ** max(-q, 0) * 2 ** max(e_q, 0)
        assert truncated * denominator <= numerator < (truncated + 1) * denominator, q
        assert e_q == ((q * 217706) >> 16) - 127, q


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, UINT64_MAX), st.integers(0, UINT64_MAX))
def test_the_64_by_64_bit_product_is_exact(a: int, b: int) -> None:
    high, low = _mul_64x64_128(np.uint64(a), np.uint64(b))
    assert int(high) << 64 | int(low) == a * b
