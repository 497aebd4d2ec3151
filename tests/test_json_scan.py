"""The compiled record scanner: same columns as the struct and dict paths, or a refusal;
``input.decoder: msgspec`` leaves it out with the same results; its compiled code is cached
until any scanner module changes."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any
from unittest import mock

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from numba.core.dispatcher import Dispatcher

from driftwarden.detectors.feature_batch import SourcePositions
from driftwarden.stream.decoding.decoder import Decoder, DecodeResult
from driftwarden.stream.decoding.scanner import decimal_float, json_scan, json_tokens
from driftwarden.stream.decoding.scanner.json_scan import RecordScanner
from driftwarden.stream.decoding.scanner.kernel_cache import (
    SOURCE_DIGEST,
    ScannerCache,
    source_digest,
)
from tests.test_decoder import same_results

KINDS = {"x": "numeric", "n": "numeric", "c": "categorical", "d": "categorical"}


def decoders(features_path: str | None = "features") -> tuple[Decoder, Decoder]:
    fast, slow = (
        Decoder(kinds=KINDS, features_path=features_path, ignore=["id"], fast_path=on)  # type: ignore[arg-type]
        for on in (True, False)
    )
    return fast, slow


def decode(decoder: Decoder, payloads: Sequence[bytes | None]) -> DecodeResult:
    return decoder.decode(payloads, SourcePositions.sequential("t", len(payloads)))


LEARN = b'{"features": {"x": 1, "n": 2, "c": "a", "d": "b", "id": 3}}'


def scanned(
    decoder: Decoder, payloads: Sequence[bytes | None], learn: bytes = LEARN
) -> tuple[DecodeResult, int]:
    """Decode ``payloads`` once the fields are known; also how many the scanner took."""
    decode(decoder, [learn])
    taken: list[int] = []
    original = RecordScanner.scan

    def spy(self: RecordScanner, batch: Sequence[bytes]) -> Any:
        found = original(self, batch)
        taken.append(found[1])
        return found

    with mock.patch.object(RecordScanner, "scan", spy):
        result = decode(decoder, payloads)
    return result, sum(taken)


def same_bits(left: DecodeResult, right: DecodeResult) -> None:
    """Equal results, and equal float bits (so -0.0 and 0.0 differ)."""
    same_results(left, right)
    if left.batch is not None and right.batch is not None:
        for name, column in left.batch.numeric.items():
            other = right.batch.numeric[name]
            assert np.array_equal(column, other, equal_nan=True)
            assert np.signbit(column).tolist() == np.signbit(other).tolist()


def test_well_formed_records_are_scanned_into_the_same_columns() -> None:
    payloads = [
        b'{"id": "r1", "ts": 1.5e3, "ok": true, "features": {"x": 12.5, "c": "FR", "n": 3}}',
        b' { "features" : { "n" : -0 , "x" : -0.0, "c" : null , "d" : "S\xc3\xa3o" } ,'
        b' "v": null }\n',
        b'{"features": {"x": 1E-5, "n": 123456789012345678, "id": "k"}}',
        b'{"features": {}}',
    ]
    fast, slow = decoders()
    result, taken = scanned(fast, payloads)
    assert taken == len(payloads)
    same_bits(result, decode(slow, payloads))
    assert result.batch is not None
    assert result.batch.numeric["n"].tolist()[:3] == [3.0, 0.0, 123456789012345678.0]
    assert result.batch.categorical["d"].tolist() == [None, "São", None, None]


def test_records_outside_the_subset_are_refused_and_decoded_alike() -> None:
    deviants = [
        b'{"features": {"x": "12"}}',  # a wrong type
        b'{"features": {"c": 7}}',  # a number as a label
        b'{"features": {"c": "a\\"b"}}',  # an escape
        b'{"features": {"new": 1}}',  # an unknown field
        b'{"features": {"x": 1, "x": 2}}',  # a duplicate key
        b'{"features": {"x": NaN}}',
        b'{"features": {"x": 1e999}}',
        b'{"features": {"x": 01}}',
        b'{"features": {"x": 1.}}',
        b'{"features": {"x": 12345678901234567890123}}',  # more than 19 digits
        b'{"meta": {"a": 1}, "features": {"x": 1}}',  # an object outside the path
        b'{"features": {"x": 1}} {}',
        b'{"features": {"x": 1},}',
        b'{"features": {"d": "\xff"}}',  # invalid UTF-8
        b'{"features": [1]}',
        b'{"features": {"x": 1}, "features": {"x": 2}}',
        b'{"x": 1}',
    ]
    for payload in deviants:
        fast, slow = decoders()
        result, taken = scanned(fast, [b'{"features": {"x": 5}}', payload])
        # The first record only; invalid UTF-8 in a label refuses the whole batch.
        assert taken == (0 if b"\xff" in payload else 1), payload
        same_bits(result, decode(slow, [b'{"features": {"x": 5}}', payload]))


def test_features_at_the_top_level_are_scanned() -> None:
    fast, slow = decoders(None)
    payloads = [b'{"x": 2, "c": "b", "id": "q"}', b'{"c": null}']
    result, taken = scanned(fast, payloads, learn=b'{"x": 1, "c": "a", "id": 3}')
    assert taken == len(payloads)
    same_bits(result, decode(slow, payloads))


numbers = st.one_of(
    st.integers(-(10**18), 10**18),
    st.floats(allow_nan=False, allow_infinity=False),
    st.floats(min_value=-1e6, max_value=1e6).map(lambda v: round(v, 2)),
)
labels = st.text(alphabet=st.characters(codec="utf-8", exclude_characters='"\\'), max_size=6)
features = st.fixed_dictionaries(
    {},
    optional={
        "x": st.none() | numbers,
        "n": st.none() | numbers,
        "c": st.none() | labels,
        "d": st.none() | st.sampled_from(["a", "b", "ü"]),
        "id": st.none() | st.booleans() | numbers | st.sampled_from(["k1", "k2"]),
    },
)
spacing = st.sampled_from([(",", ":"), (", ", ": "), (" ,\n", " :\t")])


def encode(record: dict[str, Any], separators: tuple[str, str], envelope: dict[str, Any]) -> bytes:
    payload = {**envelope, "features": record}
    return json.dumps(payload, separators=separators, ensure_ascii=False).encode()


def scannable(value: Any, envelope: bool) -> bool:
    """Whether the scanner handles this value (see the json_scan module docstring)."""
    if isinstance(value, float):
        return value == 0.0 or abs(value) >= SMALLEST_NORMAL
    if isinstance(value, str):
        plain = not any(ch in '"\\' or ord(ch) < 32 for ch in value)
        return plain and (value.isascii() or not envelope)
    return True


SMALLEST_NORMAL = 2.2250738585072014e-308


@settings(max_examples=200, deadline=None)
@given(
    st.lists(features, min_size=1, max_size=25),
    spacing,
    st.fixed_dictionaries({}, optional={"id": st.text(max_size=3), "v": numbers}),
)
def test_any_batch_in_the_subset_is_scanned_as_the_slow_path_decodes_it(
    records: list[dict[str, Any]], separators: tuple[str, str], envelope: dict[str, Any]
) -> None:
    payloads = [encode(record, separators, envelope) for record in records]
    fast, slow = decoders()
    result, taken = scanned(fast, payloads)
    same_bits(result, decode(slow, payloads))
    in_subset = all(scannable(v, envelope=True) for v in envelope.values()) and all(
        scannable(v, envelope=name == "id") for r in records for name, v in r.items()
    )
    assert (taken == len(payloads)) == in_subset


@settings(max_examples=150, deadline=None)
@given(st.lists(features, min_size=1, max_size=10), st.binary(max_size=8), st.integers(0, 9))
def test_a_corrupted_batch_is_decoded_as_the_slow_path_decodes_it(
    records: list[dict[str, Any]], junk: bytes, at: int
) -> None:
    payloads = [encode(record, (",", ":"), {}) for record in records]
    victim = at % len(payloads)
    cut = len(payloads[victim]) * at // 10
    payloads[victim] = payloads[victim][:cut] + junk + payloads[victim][cut:]
    fast, slow = decoders()
    result, taken = scanned(fast, payloads)
    same_bits(result, decode(slow, payloads))
    before = [(name, v) for record in records[:victim] for name, v in record.items()]
    try:
        payloads[victim].decode()
    except UnicodeDecodeError:
        return  # invalid UTF-8 (in a label, maybe): the whole batch may be refused
    if all(scannable(v, envelope=name == "id") for name, v in before):
        assert taken >= victim  # every record before the corrupted one was scanned


def test_records_around_a_refused_one_are_scanned_and_nulls_keep_their_first_record() -> None:
    """A refused record's chunk takes the other paths; the scanned runs around it join it
    with the same values, presence, types and first records per type as the slow path."""
    good = [b'{"features": {"x": %d.5, "n": null, "c": "a"}}' % i for i in range(3000)]
    payloads = [*good[:1000], b'{"features": {"n": "text", "x": 1}}', *good[1000:]]
    fast, slow = decoders()
    with mock.patch("driftwarden.stream.decoding.decoder._CHUNK", 100):
        result, taken = scanned(fast, payloads)
    same_bits(result, decode(slow, payloads))
    assert taken == len(payloads) - 100  # the refused record's chunk of 100 took another path
    assert result.batch is not None and result.batch.type_first["n"]["null"] == 0


# --- input.decoder ---------------------------------------------------------------------------


def by_setting(features_path: str | None = "features") -> tuple[Decoder, Decoder]:
    """Decoders with ``decoder="auto"`` and ``decoder="msgspec"``, the rest alike."""
    auto, msgspec_only = (
        Decoder(kinds=KINDS, features_path=features_path, ignore=["id"], decoder=choice)  # type: ignore[arg-type]
        for choice in ("auto", "msgspec")
    )
    return auto, msgspec_only


def test_decoder_msgspec_never_scans_and_gives_the_scanners_results() -> None:
    payloads = [
        b'{"id": "r1", "features": {"x": 12.5, "c": "FR", "n": 3}}',
        b'{"features": {"x": -0.0, "c": null, "d": "S\xc3\xa3o"}}',
        b'{"features": {"x": "12"}}',  # refused by the scanner, a wrong type for both
        b'{"features": {}}',
    ]
    auto, msgspec_only = by_setting()
    result, taken = scanned(auto, payloads)
    other, none = scanned(msgspec_only, payloads)
    assert (taken, none) == (2, 0)  # the refused record's chunk (the rest) takes another path
    same_bits(result, other)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(features, min_size=1, max_size=10), min_size=1, max_size=3),
    spacing,
    st.sampled_from([b"", b"}", b'"x":', b"\xff", b" [1]"]),
    st.integers(0, 40),
)
def test_any_batches_decode_alike_whatever_input_decoder(
    batches: list[list[dict[str, Any]]], separators: tuple[str, str], junk: bytes, at: int
) -> None:
    payload_batches = [[encode(record, separators, {}) for record in batch] for batch in batches]
    victim = payload_batches[at % len(payload_batches)]
    victim[at % len(victim)] += junk
    auto, msgspec_only = by_setting()
    with mock.patch("driftwarden.stream.decoding.decoder._CHUNK", 3):
        for batch in payload_batches:
            same_bits(decode(auto, batch), decode(msgspec_only, batch))


# --- the cache of compiled code ----------------------------------------------------------------

SCANNER_DIR = Path(json_scan.__file__).parent
SCANNER_MODULES = sorted(path.name for path in SCANNER_DIR.glob("*.py"))


@pytest.mark.parametrize("module", [decimal_float, json_tokens, json_scan])
def test_every_compiled_function_of_the_scanner_uses_the_scanner_cache(module: ModuleType) -> None:
    functions = [
        value
        for value in vars(module).values()
        if isinstance(value, Dispatcher) and value.py_func.__module__ == module.__name__
    ]
    assert functions
    for function in functions:
        assert isinstance(function._cache, ScannerCache), function  # not numba.njit(cache=True)


@pytest.mark.parametrize("name", SCANNER_MODULES)
def test_the_cache_digest_changes_when_any_scanner_module_changes(
    tmp_path: Path, name: str
) -> None:
    copy = tmp_path / "scanner"
    shutil.copytree(SCANNER_DIR, copy, ignore=shutil.ignore_patterns("__pycache__"))
    assert source_digest(copy) == SOURCE_DIGEST
    with (copy / name).open("a") as module:
        module.write("\n")
    assert source_digest(copy) != SOURCE_DIGEST


# Loads the scanner from the folder given as argv[1], under its installed name (with numba's
# own cache if argv[2] is "plain"), converts "2.5" with ``json_tokens.number``, whose
# compiled code holds ``decimal_float``'s, and says where that code came from.
_PROBE = """
import importlib.util, inspect, json, sys
import numpy as np
import driftwarden.stream.decoding

name, folder = "driftwarden.stream.decoding.scanner", sys.argv[1]
spec = importlib.util.spec_from_file_location(
    name, folder + "/__init__.py", submodule_search_locations=[folder]
)
sys.modules[name] = module = importlib.util.module_from_spec(spec)
spec.loader.exec_module(module)
if sys.argv[2] == "plain":
    from numba.core.caching import FunctionCache
    from driftwarden.stream.decoding.scanner import kernel_cache
    kernel_cache.ScannerCache = FunctionCache  # what numba.njit(cache=True) uses
from driftwarden.stream.decoding.scanner.json_tokens import number

buf = np.frombuffer(b"2.5", dtype=np.uint8)
value, end = number(buf, 0, buf.size)
stats = number.stats
print(json.dumps({
    "value": value,
    "file": inspect.getfile(number.py_func),
    "cache_path": stats.cache_path,
    "from_cache": sum(stats.cache_hits.values()),
    "compiled": sum(stats.cache_misses.values()),
}))
"""


class _ScannerCopy:
    """A copy of the scanner's modules, run by ``_PROBE`` in a fresh interpreter."""

    def __init__(self, tmp_path: Path, cache_dir: Path | None) -> None:
        self.folder = tmp_path / "scanner"
        shutil.copytree(SCANNER_DIR, self.folder, ignore=shutil.ignore_patterns("__pycache__"))
        self.env = {k: v for k, v in os.environ.items() if k != "NUMBA_CACHE_DIR"}
        if cache_dir is not None:
            self.env["NUMBA_CACHE_DIR"] = str(cache_dir)
        self.cache_dir = cache_dir or self.folder / "__pycache__"

    def probe(self, cache: str = "scanner") -> tuple[float, str]:
        """``number``'s result for "2.5", and whether its code was ``compiled`` or loaded
        ``from_cache``."""
        done = subprocess.run(
            [sys.executable, "-c", _PROBE, str(self.folder), cache],
            env=self.env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert done.returncode == 0, done.stderr
        found = json.loads(done.stdout)
        assert Path(found["file"]) == self.folder / "json_tokens.py"  # the copy, not the package
        assert Path(found["cache_path"]).is_relative_to(self.cache_dir)
        assert found["from_cache"] + found["compiled"] == 1
        return found["value"], "from_cache" if found["from_cache"] else "compiled"

    def double_fast_path_results(self) -> None:
        """Change ``decimal_float.py`` only: Clinger's fast path, which 2.5 takes, doubles."""
        floats = self.folder / "decimal_float.py"
        exact = "        return (-value if negative else value), True\n"
        assert floats.read_text().count(exact) == 1
        floats.write_text(
            floats.read_text().replace(exact, exact.replace("value),", "value) * 2,"))
        )


@pytest.mark.parametrize("cache_dir", ["NUMBA_CACHE_DIR", "__pycache__"])
def test_a_change_to_another_scanner_module_recompiles_the_cached_code(
    tmp_path: Path, cache_dir: str
) -> None:
    """``number`` lives in ``json_tokens.py``, the only file numba's own cache checks; the
    scanner's cache also sees that ``decimal_float.py`` changed, and compiles it afresh."""
    scanner = _ScannerCopy(tmp_path, tmp_path / "numba" if cache_dir == "NUMBA_CACHE_DIR" else None)
    assert scanner.probe() == (2.5, "compiled")
    assert scanner.probe() == (2.5, "from_cache")
    tokens = (scanner.folder / "json_tokens.py").read_bytes()
    scanner.double_fast_path_results()
    assert scanner.probe() == (5.0, "compiled")
    assert (scanner.folder / "json_tokens.py").read_bytes() == tokens
    assert scanner.probe() == (5.0, "from_cache")


def test_numbas_own_cache_would_have_kept_the_stale_code(tmp_path: Path) -> None:
    """The control of the test above: the same change, with ``numba.njit(cache=True)``."""
    scanner = _ScannerCopy(tmp_path, tmp_path / "numba")
    assert scanner.probe("plain") == (2.5, "compiled")
    scanner.double_fast_path_results()
    assert scanner.probe("plain") == (2.5, "from_cache")  # stale: the new code gives 5.0
