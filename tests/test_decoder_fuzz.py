"""The Decoder fuzzed over keys and values: it never raises, partitions its input, and agrees
with a reference decode written from its docstring.

Each example draws a few field names from the whole of Unicode, a decoder configuration, and
two batches (the first teaches the decoder the fields, so the second takes its fast paths)
mixing valid records, with values of every JSON type spelled in every way JSON allows, and
corrupted payloads. The reference (``expected``) parses each payload with Python's ``json``
and applies the rules of ``driftwarden.stream.decoding.decoder`` and
``driftwarden.stream.decoding.column_builder`` one record and one value at a time.

Hypothesis draws the names, the configuration, a few wild values and one seed per batch;
the payloads are built from the seed with ``random``, from pools of the spellings that matter
(a hypothesis draw per value would cost ten times as much, and 20,000 examples must stay
quick).
"""

from __future__ import annotations

import json
import math
import random
import re
import struct
from bisect import bisect_left
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Literal
from unittest import mock

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

import driftwarden.stream.decoding.decoder as decoder_module
from driftwarden.detectors.category_label import category_label
from driftwarden.detectors.feature_batch import Kind, SourcePositions
from driftwarden.stream.decoding.decoder import REASONS, Decoder, DecodeResult, Reason

MAX_BYTES = 16_384  # the decoders' max_message_bytes: deep nesting fits, "huge" does not
EXAMPLES = 10_000  # per test: two tests, 20,000 examples in all
STYLES = ("number", "label", "any")  # what a field mostly holds (so fast paths are taken)
FEATURES_PATHS = (None, None, "f", "p.q", 'k"\\\t.x')

# --- values and how they are spelled ------------------------------------------------------


@dataclass(frozen=True)
class Token:
    """Written into the JSON as it is: a number spelling or a non-finite literal."""

    text: str


@dataclass(frozen=True)
class Spelling:
    """How a payload is written: non-ASCII raw or ``\\u``-escaped; some characters escaped
    though they need not be; the white space around punctuation."""

    ascii_only: bool
    escape_more: bool
    space: str


NUMBER_SPELLINGS = (
    "0",
    "-0",
    "-0.0",
    "0.0e0",
    "-0e-0",
    "1E+2",
    "0.1e1",
    "1e-400",
    "2.5e-324",
    "4.9e-324",
    "2.2250738585072011e-308",
    "1.7976931348623157e308",
    "1.7976931348623158e308",
    "123456789012345678901234567890",
    "-9223372036854775809",
    "18446744073709551616",
    "9007199254740993",
    "1.0000000000000000000001",
    "0.30000000000000000000000000000001e-5",
)
NON_FINITE_SPELLINGS = ("NaN", "Infinity", "-Infinity", "1e400", "-1e400", "1.8e308", "1e99999")
SPECIAL_CHARACTERS = '"\\/\x00\x01\x1f\x7f\u2028\u2029\ufeff\u00e9\U0001f600\U0010ffff '


@dataclass(frozen=True)
class Wild:
    """Values hypothesis drew for one example, mixed in among the seeded ones."""

    text: str
    number: str


class ValueMaker:
    """JSON values and spellings from a seeded ``random.Random``; ``calm``: mostly the plain
    values model servers log, which the fast paths take, and now and then any other."""

    def __init__(self, rng: random.Random, wild: Wild, calm: bool) -> None:
        self.rng = rng
        self.wild = wild
        self.calm = calm and rng.random() < 0.9

    def number(self) -> Token:
        rng = self.rng
        choice = rng.choice((0, 4)) if self.calm else rng.randrange(9)
        if choice == 0:
            return Token(str(rng.randint(-(10**6), 10**6)))
        if choice == 1:
            return Token(str(rng.choice((1, -1)) * rng.randint(10**17, 10**25)))
        if choice == 2:  # around float64's limit (about 1.8e308), mostly beyond it
            return Token(str(rng.choice((1, -1)) * rng.randint(10**300, 10**320)))
        if choice == 3:
            (bits,) = struct.unpack("<d", rng.getrandbits(64).to_bytes(8, "little"))
            return Token(repr(bits) if math.isfinite(bits) else "0.5")
        if choice == 4:
            return Token(repr(rng.uniform(-1e6, 1e6)))
        if choice == 5:
            return Token(rng.choice(NUMBER_SPELLINGS))
        if choice == 6:
            return Token(self.wild.number)
        # JSON's grammar: digits, a fraction, an exponent (up to overflow and underflow)
        text = rng.choice(("", "-")) + rng.choice(("0", str(rng.randint(1, 10**24))))
        if rng.random() < 0.5:
            text += "." + str(rng.randint(0, 10**24)).zfill(rng.randint(1, 3))
        if rng.random() < 0.5:
            text += rng.choice("eE") + rng.choice(("", "+", "-")) + str(rng.randint(0, 400))
        return Token(text)

    def text(self) -> str:
        rng = self.rng
        if self.calm:
            return "".join(rng.choice("abcxyz019 _-é") for _ in range(rng.randint(0, 4)))
        if rng.random() < 0.15:
            return self.wild.text
        characters = []
        for _ in range(rng.randint(0, 5)):
            pick = rng.randrange(4)
            if pick == 0:
                characters.append(rng.choice(SPECIAL_CHARACTERS))
            elif pick == 1:
                characters.append(chr(rng.randint(32, 126)))
            elif pick == 2:
                characters.append(chr(rng.randint(0, 31)))
            else:  # anywhere in Unicode but the surrogates
                code = rng.randint(0, 0x10FFFF - 0x800)
                characters.append(chr(code + 0x800 if code >= 0xD800 else code))
        return "".join(characters)

    def scalar(self) -> Any:
        pick = self.rng.randrange(5)
        if pick == 0:
            return None
        if pick == 1:
            return self.rng.random() < 0.5
        return self.number() if pick == 2 else self.text()

    def value(self, style: str, depth: int = 0) -> Any:
        rng = self.rng
        if style == "number":
            return None if rng.random() < 0.1 else self.number()
        if style == "label" and self.calm:
            return None if rng.random() < 0.1 else self.text()
        if style == "label":
            pick = rng.randrange(12)
            return self.text() if pick < 8 else (None, True, self.number(), False)[pick - 8]
        pick = rng.randrange(8)
        if pick < 5 or depth >= 3 or self.calm:
            return self.scalar()
        if pick < 7:
            return [self.value("any", depth + 1) for _ in range(rng.randint(0, 3))]
        return {self.text(): self.value("any", depth + 1) for _ in range(rng.randint(0, 3))}

    def spelling(self) -> Spelling:
        rng = self.rng
        escape_more = not self.calm and rng.random() < 0.3
        return Spelling(rng.random() < 0.5, escape_more, rng.choice(("", " ", "\n\t ")))


def dump(value: Any, spelling: Spelling) -> str:
    """``value`` as JSON text, ``Token``s as they are."""
    space = spelling.space
    if isinstance(value, Token):
        return value.text
    if isinstance(value, str):
        return dump_string(value, spelling)
    if isinstance(value, list):
        return "[" + f",{space}".join(dump(item, spelling) for item in value) + "]"
    if isinstance(value, dict):
        items = (
            f"{dump_string(key, spelling)}{space}:{space}{dump(item, spelling)}"
            for key, item in value.items()
        )
        return "{" + space + f",{space}".join(items) + space + "}"
    return json.dumps(value)  # None, True, False


def dump_string(text: str, spelling: Spelling) -> str:
    if not spelling.escape_more:
        return json.dumps(text, ensure_ascii=spelling.ascii_only)
    # Escapes JSON allows but does not need.
    return (
        '"'
        + "".join(
            f"\\u{ord(c):04X}"
            if c in "aé"
            else "\\/"
            if c == "/"
            else json.dumps(c, ensure_ascii=spelling.ascii_only)[1:-1]
            for c in text
        )
        + '"'
    )


# --- payloads -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Setup:
    """One example's field names (with what each mostly holds) and decoder configuration."""

    names: tuple[str, ...]
    styles: tuple[str, ...]
    kinds: dict[str, Kind]
    ignore: tuple[str, ...]
    features_path: str | None
    on_wrong_type: Literal["dlq", "null"]
    calm: bool  # values mostly plain (see ``ValueMaker``)


# Strategies are built once: building one per example costs more than drawing from it.
every_name = st.text(max_size=4) | st.sampled_from(["x", "", 'a"b', "a\\b", "a\tb", "a\x01b"])
any_names = st.lists(every_name, min_size=1, max_size=3, unique=True)
# The names the compiled scanner takes (ASCII, nothing escaped).
plain_name = st.text(st.characters(min_codepoint=32, max_codepoint=126, exclude_characters='"\\'))
plain_names = st.lists(plain_name, min_size=1, max_size=3, unique=True)
configuration_bits = st.integers(0, 2**14 - 1)
wild_texts = st.text(max_size=6)
wild_numbers = st.integers().map(str) | st.floats(allow_nan=False).map(
    lambda value: repr(value) if math.isfinite(value) else "-Infinity" if value < 0 else "Infinity"
)
batch_seeds = st.integers(0, 2**64 - 1)


@st.composite
def setups(draw: st.DrawFn) -> Setup:
    # One draw for every choice of the configuration: cheaper than one each.
    bits = draw(configuration_bits)
    calm = bool(bits & 1 << 13)
    names = tuple(draw(plain_names if calm else any_names))
    styles = tuple(STYLES[(bits >> (2 * i)) % 3] for i in range(len(names)))
    kinds: dict[str, Kind] = {}
    if bits & 1 << 6:
        kinds[names[0]] = "numeric" if bits & 1 << 7 else "categorical"
    ignore = (names[-1],) if bits & 1 << 8 and names[-1] not in kinds else ()
    return Setup(
        names,
        styles,
        kinds,
        ignore,
        FEATURES_PATHS[(bits >> 9) % len(FEATURES_PATHS)],
        "dlq" if bits & 1 << 12 else "null",
        calm,
    )


def valid_payload(setup: Setup, values: ValueMaker) -> bytes:
    """A record over the setup's fields (each present or not) in its envelope, spelled."""
    rng = values.rng
    record: dict[str, Any] = {}
    for name, style in zip(setup.names, setup.styles, strict=True):
        if rng.random() < 0.8:
            record[name] = values.value(style)
    if not values.calm and rng.random() < 0.05:  # a field the decoder has not met
        record[values.text()] = values.scalar()
    if not values.calm and rng.random() < 0.03:  # a non-finite literal, anywhere
        record[rng.choice(setup.names)] = Token(rng.choice(NON_FINITE_SPELLINGS))
    value: Any = record
    if setup.features_path:
        for part in reversed(setup.features_path.split(".")):
            keys = [rng.choice(("id", "ts")) if values.calm else values.text() for _ in "12"]
            envelope = {key: values.value("any") for key in keys[: rng.randint(0, 2)]}
            envelope.pop(part, None)
            value = {**envelope, part: value}
    spelling = values.spelling()
    return (spelling.space + dump(value, spelling) + spelling.space).encode("utf-8")


NOT_OBJECTS = (b"[1]", b'"x"', b"1", b"null", b"true", b"[]", b'[{"x": 1}]', b" 3 ")
PUT_IN = (b"\xff", b'"', b"{", b"]", b"\\", b"N", b",", b"0", b" ", b"\x00", b":")
INVALID_UTF8 = (b"\xff", b"\xc3", b"\xed\xa0\x80", b"\xc0\xaf", b"\x80", b"\xf4\x90\x80\x80")


def corrupted_payload(setup: Setup, values: ValueMaker) -> bytes | None:
    """A payload the decoder must reject (or, by chance now and then, a valid one)."""
    rng = values.rng
    kind = rng.randrange(12)
    if kind == 0:
        return rng.choice((None, b""))
    if kind == 1:
        return rng.choice(NOT_OBJECTS)
    if kind == 2:
        return rng.randbytes(rng.randint(0, 16))
    if kind == 3:  # nested far beyond what the JSON decoder allows, or well within
        depth = rng.choice((50, 3000))
        if rng.random() < 0.5:
            return b'{"d":' + b"[" * depth + b"1" + b"]" * depth + b"}"
        return b'{"d":' * depth + b"1" + b"}" * depth
    if kind == 4:  # huge: just past max_message_bytes, or right at it
        body = b'{"x": 1}'
        return body + b" " * (rng.choice((MAX_BYTES, MAX_BYTES + 1)) - len(body))
    if kind == 5:  # a duplicate key: the last one counts
        plain = Spelling(False, False, "")
        key = dump_string(rng.choice(setup.names), plain).encode()
        first, second = (dump(values.scalar(), plain).encode() for _ in "12")
        return b"{" + key + b":" + first + b"," + key + b":" + second + b"}"
    if kind == 6:  # an unpaired surrogate escape: JSON's grammar, but msgspec rejects it
        return rng.choice((b'{"\\ud800": 1}', b'{"x": "\\udc00"}'))
    payload = valid_payload(setup, values)
    at = rng.randint(0, len(payload))
    if kind == 7:
        return payload[: min(at, len(payload) - 1)]  # truncated
    if kind == 8:
        return payload[:at] + rng.choice(INVALID_UTF8) + payload[at:]
    if kind == 9:
        return payload[:at] + rng.choice(PUT_IN) + payload[at + 1 :]
    if kind == 10:
        return rng.choice((b"\xef\xbb\xbf" + payload, payload + payload, payload + b"x"))
    return b"\n " + payload + b"\t"  # white space around: valid


@st.composite
def batches(draw: st.DrawFn, corrupted_share: float) -> tuple[Setup, list[list[bytes | None]]]:
    """A setup and two batches of 1 to 5 payloads (``corrupted_share`` of them corrupted)."""
    setup = draw(setups())
    wild = Wild(draw(wild_texts), draw(wild_numbers))
    drawn: list[list[bytes | None]] = []
    for _ in range(2):
        batch: list[bytes | None] = []
        rng = random.Random(draw(batch_seeds))
        for _ in range(rng.randint(1, 5)):
            values = ValueMaker(random.Random(rng.getrandbits(64)), wild, setup.calm)
            if values.rng.random() < corrupted_share:
                batch.append(corrupted_payload(setup, values))
            else:
                batch.append(valid_payload(setup, values))
        drawn.append(batch)
    return setup, drawn


# --- the reference decode -----------------------------------------------------------------

_JSON_TYPE = {
    bool: "bool",
    int: "number",
    float: "number",
    str: "string",
    list: "array",
    dict: "object",
    type(None): "null",
}
_FLOAT_LITERAL = re.compile(r"-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?")
_NAMED_NON_FINITE = re.compile("NaN|Infinity")
_FITS = {
    "numeric": {int, float, type(None)},
    "categorical": {str, bool, int, float, type(None)},
}


def parse(payload: bytes | None) -> tuple[Any, Reason | None]:
    """The JSON value of ``payload``, or why the decoder rejects it before typing values."""
    if not payload:
        return None, "empty"
    if len(payload) > MAX_BYTES:
        return None, "too_large"
    try:
        text = payload.decode("utf-8")
    except UnicodeDecodeError:
        return None, "malformed_json"
    non_finite: list[str] = []

    def parse_float(literal: str) -> float:
        value = float(literal)
        if math.isinf(value):
            non_finite.append(literal)
        return value

    def parse_constant(literal: str) -> float:
        non_finite.append(literal)
        return 0.0

    try:
        value = json.loads(text, parse_float=parse_float, parse_constant=parse_constant)
    except (ValueError, RecursionError):
        return None, "malformed_json"  # or "non_finite_number": see ``holds_non_finite``
    if "NaN" in non_finite or any(literal.endswith("Infinity") for literal in non_finite):
        return None, "non_finite_number"
    if ("\\ud" in text or "\\uD" in text) and _holds_lone_surrogate(value):
        # msgspec reads no unpaired surrogate escape, though JSON's grammar allows it
        return None, "malformed_json"
    if non_finite:
        return None, "non_finite_number"
    if not isinstance(value, dict):
        return None, "not_an_object"
    return value, None


def holds_non_finite(payload: bytes | None) -> bool:
    """Whether ``payload`` holds a non-finite literal (NaN, Infinity, a float beyond float64):
    a payload both malformed and holding one may be rejected for either reason (the JSON
    decoder stops at the first problem it meets, as in ``{"a": 1e400}}``, and the decoder
    reads NaN and Infinity with Python's ``json``, which takes a byte order mark)."""
    text = (payload or b"").decode("utf-8", "replace")
    return bool(_NAMED_NON_FINITE.search(text)) or any(
        math.isinf(float(literal)) for literal in _FLOAT_LITERAL.findall(text)
    )


def _holds_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(c) <= 0xDFFF for c in value)
    if isinstance(value, list):
        return any(map(_holds_lone_surrogate, value))
    if isinstance(value, dict):
        return any(map(_holds_lone_surrogate, value)) or any(
            map(_holds_lone_surrogate, value.values())
        )
    return False


@dataclass
class Expected:
    """What the decoder must return for one batch."""

    reasons: dict[int, Reason] = field(default_factory=dict)
    accepted: list[int] = field(default_factory=list)
    numeric: dict[str, list[float]] = field(default_factory=dict)
    categorical: dict[str, list[str | None]] = field(default_factory=dict)
    present: dict[str, list[bool]] = field(default_factory=dict)
    types: dict[str, set[str]] = field(default_factory=dict)
    type_first: dict[str, dict[str, int]] = field(default_factory=dict)


def expected(batch: Sequence[bytes | None], setup: Setup, learned: dict[str, Kind]) -> Expected:
    """The reference decode of one batch (``learned``: kinds learned so far, updated)."""
    out = Expected()
    reached: list[tuple[int, dict[str, Any]]] = []  # records that decoded to feature objects
    for index, payload in enumerate(batch):
        value, reason = parse(payload)
        if reason is not None:
            out.reasons[index] = reason
            continue
        for part in setup.features_path.split(".") if setup.features_path else ():
            value = value.get(part) if isinstance(value, dict) else None
        if not isinstance(value, dict):
            out.reasons[index] = "features_not_an_object"
            continue
        reached.append((index, value))
    wrong: set[int] = set()
    non_finite: set[int] = set()
    kinds: dict[str, Kind | None] = {}
    for name in dict.fromkeys(name for _, record in reached for name in record):
        if name in setup.ignore:
            continue
        held = [(index, record[name]) for index, record in reached if name in record]
        kind = setup.kinds.get(name) or learned.get(name)
        if kind is None:  # the first non-null scalar of the batch decides it
            first = next((v for _, v in held if type(v) in (bool, int, float, str)), None)
            if first is not None:
                kind = "numeric" if type(first) in (int, float) else "categorical"
                learned[name] = kind
        kinds[name] = kind
        out.types[name] = {_JSON_TYPE[type(v)] for _, v in held}
        for index, v in held:
            if kind is not None and type(v) not in _FITS[kind]:
                wrong.add(index)
            elif type(v) is int and _overflows(v):
                non_finite.add(index)
    if setup.on_wrong_type == "dlq":
        out.reasons.update(dict.fromkeys(wrong, "wrong_type"))
    out.reasons.update(dict.fromkeys(non_finite, "non_finite_number"))  # the stronger reason
    kept = [(index, record) for index, record in reached if index not in out.reasons]
    out.accepted = [index for index, _ in kept]
    for name, kind in kinds.items():
        out.present[name] = [name in record for _, record in kept]
        values = [_usable(record.get(name), kind) for _, record in kept]
        if kind == "numeric":
            out.numeric[name] = [math.nan if v is None else float(v) for v in values]
        elif kind == "categorical":
            out.categorical[name] = [None if v is None else category_label(v) for v in values]
        first_held: dict[str, int] = {}
        for index, record in reached:
            if name in record:
                first_held.setdefault(_JSON_TYPE[type(record[name])], index)
        out.type_first[name] = {t: bisect_left(out.accepted, i) for t, i in first_held.items()}
    return out


def _overflows(value: int) -> bool:
    try:
        float(value)
    except OverflowError:
        return True
    return False


def _usable(value: Any, kind: Kind | None) -> Any:
    """A kept record's value as its column holds it (None: missing)."""
    if kind is None or type(value) not in _FITS[kind]:
        return None  # absent, or a wrong type read as missing
    return value


# --- the properties -----------------------------------------------------------------------


def check(result: DecodeResult, batch: Sequence[bytes | None], want: Expected) -> None:
    """``result`` partitions ``batch`` and equals the reference decode."""
    accepted = result.accepted_index.tolist()
    rejected = [r.index for r in result.rejected]
    assert sorted(accepted + rejected) == list(range(len(batch)))  # each index exactly once
    assert all(r.reason in REASONS and r.detail for r in result.rejected)
    for r in result.rejected:
        reason = want.reasons.get(r.index)
        if reason == "malformed_json" and r.reason == "non_finite_number":
            assert holds_non_finite(batch[r.index]), r
        else:
            assert r.reason == reason, r
    assert accepted == want.accepted
    if result.batch is None:
        assert not accepted
        return
    out = result.batch
    assert out.n_records == len(accepted)
    assert out.positions.offsets.tolist() == accepted
    assert set(out.numeric) == set(want.numeric)
    for name, column in out.numeric.items():
        wanted = np.array(want.numeric[name], dtype=np.float64)
        gaps = np.isnan(column)
        assert gaps.tolist() == np.isnan(wanted).tolist(), name
        # Bit for bit, so that -0.0 and 0.0 differ.
        assert column[~gaps].view(np.uint64).tolist() == wanted[~gaps].view(np.uint64).tolist()
    assert {n: c.tolist() for n, c in out.categorical.items()} == want.categorical
    assert {n: m.tolist() for n, m in out.present.items()} == want.present
    assert out.types == want.types
    assert out.type_first == want.type_first
    assert out.extras == {}


def decode_and_check(setup: Setup, batches: Sequence[Sequence[bytes | None]]) -> None:
    decoder = Decoder(
        kinds=setup.kinds,
        features_path=setup.features_path,
        ignore=setup.ignore,
        max_message_bytes=MAX_BYTES,
        on_wrong_type=setup.on_wrong_type,
    )
    learned: dict[str, Kind] = {}
    # Chunks of two payloads, so that one batch mixes the decoding paths.
    with mock.patch.object(decoder_module, "_CHUNK", 2):
        for batch in batches:
            want = expected(batch, setup, learned)
            result = decoder.decode(batch, SourcePositions.sequential("t", len(batch)))
            check(result, batch, want)
    assert decoder.learned_kinds == learned


@settings(max_examples=EXAMPLES, deadline=None)
@given(batches(corrupted_share=0.0))
def test_valid_records_with_any_keys_and_values_decode_as_the_reference_decodes_them(
    drawn: tuple[Setup, list[list[bytes | None]]],
) -> None:
    decode_and_check(*drawn)


@settings(max_examples=EXAMPLES, deadline=None)
@given(batches(corrupted_share=0.4))
def test_any_mix_of_records_and_corrupted_bytes_is_partitioned_as_the_reference_says(
    drawn: tuple[Setup, list[list[bytes | None]]],
) -> None:
    decode_and_check(*drawn)
