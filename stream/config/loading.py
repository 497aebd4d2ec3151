"""Reading the config file: YAML, then ``DRIFTWARDEN_*`` environment variables, then
``--set key.path=value`` overrides (file < env < ``--set``), validated as a whole, per-feature
detector overrides and the reference profile included. Every problem becomes one line,
``<source>: <key.path>: <what was wrong> (expected …)``, in one ``ConfigError``.
"""

from __future__ import annotations

import difflib
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import UnionType
from typing import Annotated, Any, Literal, Union, get_args, get_origin

import yaml
from pydantic import BaseModel, ValidationError
from pydantic_core import ErrorDetails

from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings, FeatureOverride, IncidentSettings
from driftwarden.stream.config.model import ENV_PREFIX, ServiceConfig

__all__ = ["ConfigError", "ConfigProblem", "load_config"]


@dataclass(frozen=True)
class ConfigProblem:
    """One problem: where it comes from (file, ``--set`` or env variable), key path, what."""

    source: str
    path: str
    message: str

    def __str__(self) -> str:
        where = f"{self.path}: " if self.path else ""
        return f"{self.source}: {where}{self.message}"


class ConfigError(ValueError):
    """The configuration cannot be used; ``str()`` has one line per problem.

    >>> str(ConfigError([ConfigProblem("c.yaml", "kafka.input_topcs", "unknown key")]))
    'c.yaml: kafka.input_topcs: unknown key'
    """

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        self.problems = list(problems)
        super().__init__("\n".join(str(problem) for problem in self.problems))


class _Loader(yaml.SafeLoader):
    """PyYAML's safe loader that also reads ``1e-6`` as a float and rejects duplicate keys."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    raise yaml.constructor.ConstructorError(
                        None, None, f"duplicate key '{key_node.value}'", key_node.start_mark
                    )
                seen.add(key_node.value)
        return super().construct_mapping(node, deep=deep)


_Loader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?[0-9][0-9_]*(\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def load_config(
    path: str | Path, overrides: Sequence[str] = (), env: Mapping[str, str] | None = None
) -> ServiceConfig:
    """Read, override and validate a config file; ``ConfigError`` lists every problem.

    ``overrides`` are ``key.path=value`` (value read as YAML); ``env`` defaults to
    ``os.environ`` (``DRIFTWARDEN_KAFKA__CLIENT__SASL_PASSWORD`` → ``kafka.client``).

    >>> import pathlib, tempfile
    >>> file = pathlib.Path(tempfile.mkdtemp()) / "service.yaml"
    >>> _ = file.write_text("kafka:\\n  bootstrap_servers: b:9092\\n  input_topics: [features]\\n")
    >>> load_config(file, ["kafka.consume_batch=100"], env={}).kafka.consume_batch
    100
    >>> try:
    ...     load_config(file, ["detectors.numeric.adwin.delta=2"], env={})
    ... except ConfigError as error:
    ...     print(error)
    --set: detectors.numeric.adwin.delta: Input should be less than 1 (got 2)
    """
    path = Path(path)
    source = str(path)
    raw = _read_yaml(path)
    origins: dict[tuple[str, ...], str] = {}
    problems: list[ConfigProblem] = []
    environ = os.environ if env is None else env
    for label, parts, value in [*_env_overrides(environ), *_set_overrides(overrides, problems)]:
        _apply(raw, parts, value, label, origins, problems)
    try:
        config = ServiceConfig.model_validate(raw)
    except ValidationError as error:
        problems += _problems(error.errors(), (), None, source, origins)
        raise ConfigError(problems) from None
    problems += _override_problems(config.detectors, source, origins)
    problems += _liveness_problems(config, source, origins)
    problems += _attach_profile(config, path.parent, origins.get(("reference", "profile"), source))
    if problems:
        raise ConfigError(problems)
    return config


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([ConfigProblem(str(path), "", "no such file")]) from None
    except (OSError, UnicodeDecodeError) as error:
        raise ConfigError([ConfigProblem(str(path), "", f"cannot read it ({error})")]) from None
    try:
        data = _yaml_value(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        what = f"invalid YAML: {error.problem or error.context}"
        if error.problem and error.context and error.context_mark:
            start = error.context_mark
            what += f" ({error.context} at line {start.line + 1}, column {start.column + 1})"
        raise ConfigError([ConfigProblem(str(path), where, what)]) from None
    except yaml.YAMLError as error:
        raise ConfigError([ConfigProblem(str(path), "", f"invalid YAML: {error}")]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        what = f"expected a mapping of sections (kafka, detectors, …), got a {type(data).__name__}"
        raise ConfigError([ConfigProblem(str(path), "", what)])
    return data


def _env_overrides(env: Mapping[str, str]) -> Iterable[tuple[str, list[str], Any]]:
    # Only names with "__" are paths: every key lives in a section, and other
    # DRIFTWARDEN_* variables (DRIFTWARDEN_BOOTSTRAP for the tests) are not config.
    for name in sorted(env):
        if not name.startswith(ENV_PREFIX) or "__" not in name:
            continue
        parts = name[len(ENV_PREFIX) :].lower().split("__")
        if parts[:2] == ["kafka", "client"] and len(parts) > 2:
            yield f"${name}", [*parts[:2], "__".join(parts[2:]).replace("_", ".")], env[name]
        else:
            yield f"${name}", parts, _yaml_value(env[name])


def _set_overrides(
    overrides: Sequence[str], problems: list[ConfigProblem]
) -> Iterable[tuple[str, list[str], Any]]:
    for item in overrides:
        key, equals, text = item.partition("=")
        parts = key.strip().split(".")
        if not equals or not all(parts):
            problems.append(ConfigProblem("--set", key, "expected key.path=value"))
        elif parts[:2] == ["kafka", "client"] and len(parts) > 2:
            yield "--set", [*parts[:2], ".".join(parts[2:])], text
        else:
            try:
                yield "--set", parts, _yaml_value(text)
            except yaml.YAMLError as error:
                problems.append(ConfigProblem("--set", key, f"value is not valid YAML ({error})"))


def _yaml_value(text: str) -> Any:
    return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader: plain data only


class _UnknownKey(Exception):
    pass


def _unwrap(annotation: Any) -> Any:
    origin = get_origin(annotation)
    if origin is Annotated:
        return _unwrap(get_args(annotation)[0])
    if origin in (Union, UnionType):
        members = [a for a in get_args(annotation) if a is not type(None)]
        if len(members) == 1:
            return _unwrap(members[0])
    return annotation


def _unknown_key(model: type[BaseModel], key: str) -> str:
    known = [field.alias or name for name, field in model.model_fields.items()]
    close = difflib.get_close_matches(key, known, n=1)
    if close:
        return f"unknown key (did you mean '{close[0]}'?)"
    return f"unknown key (expected one of: {', '.join(known)})"


def _walk(parts: Sequence[str]) -> tuple[list[str], Any]:
    """The file's keys (aliases) along ``parts`` and the type found there."""
    keys: list[str] = []
    annotation: Any = ServiceConfig
    for depth, part in enumerate(parts):
        annotation = _unwrap(annotation)
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            fields = annotation.model_fields
            named = [(f.alias or n, f) for n, f in fields.items() if part in (n, f.alias)]
            if not named:
                raise _UnknownKey(_unknown_key(annotation, part))
            key, annotation = named[0][0], named[0][1].annotation
        elif get_origin(annotation) is dict:
            key, annotation = part, get_args(annotation)[1]
        elif annotation is Any:
            key = part
        else:
            raise _UnknownKey(f"{'.'.join(parts[:depth])} is a single value, it has no keys")
        keys.append(key)
    return keys, annotation


def _apply(
    raw: dict[str, Any],
    parts: list[str],
    value: Any,
    label: str,
    origins: dict[tuple[str, ...], str],
    problems: list[ConfigProblem],
) -> None:
    try:
        keys, _ = _walk(parts)
    except _UnknownKey as unknown:
        problems.append(ConfigProblem(label, ".".join(parts), str(unknown)))
        return
    node = raw
    for depth, key in enumerate(keys[:-1]):
        child = node.get(key)
        if child is None:
            child = node[key] = {}
        if not isinstance(child, dict):
            what = f"cannot set it: {'.'.join(keys[: depth + 1])} is not a mapping in the file"
            problems.append(ConfigProblem(label, ".".join(parts), what))
            return
        node = child
    node[keys[-1]] = value
    origins[tuple(keys)] = label


def _source(loc: tuple[str, ...], file: str, origins: Mapping[tuple[str, ...], str]) -> str:
    for depth in range(len(loc), 0, -1):
        if loc[:depth] in origins:
            return origins[loc[:depth]]
    return file


def _problems(
    errors: Iterable[ErrorDetails],
    prefix: tuple[str, ...],
    model: type[BaseModel] | None,
    file: str,
    origins: Mapping[tuple[str, ...], str],
) -> list[ConfigProblem]:
    """Pydantic errors as problems; ``prefix`` and ``model`` place errors of a nested model."""
    problems: list[ConfigProblem] = []
    for error in errors:
        # A refused dict key (a kafka.client setting) is placed at the key, not under it.
        loc = tuple(str(part) for part in error["loc"] if part != "[key]")
        loc = (*prefix, *loc)
        if error["type"] == "extra_forbidden":
            parent: Any = model if model is not None and len(error["loc"]) == 1 else None
            if parent is None:
                try:
                    parent = _unwrap(_walk(loc[:-1])[1])
                except _UnknownKey:
                    parent = None
            is_model = isinstance(parent, type) and issubclass(parent, BaseModel)
            message = _unknown_key(parent, loc[-1]) if is_model else "unknown key"
        elif error["type"] == "missing":
            message = "required key is missing"
        else:
            message = error["msg"].removeprefix("Value error, ")
            value = error.get("input")
            if loc[:2] != ("kafka", "client") and isinstance(value, str | int | float | bool):
                message += f" (got {value!r:.60})"
        source = _source(loc, file, origins)
        problems.append(ConfigProblem(source, ".".join(loc), message))
    return problems


def _override_problems(
    settings: DetectorSettings, file: str, origins: Mapping[tuple[str, ...], str]
) -> list[ConfigProblem]:
    """Validate each per-feature patch the way the DetectorBank applies it (``resolved``)."""
    problems: list[ConfigProblem] = []
    kinds: tuple[Literal["numeric", "categorical"], ...]
    for name, override in settings.features.items():
        kinds = (override.kind,) if override.kind else ("numeric", "categorical")
        if override.incidents is not None:
            loc = ("detectors", "features", name, "incidents")
            try:
                settings.incident_settings(name)
            except ValidationError as error:
                problems += _problems(error.errors(), loc, IncidentSettings, file, origins)
        for detector in FeatureOverride.model_fields:
            patch = getattr(override, detector)
            if detector in ("kind", "incidents") or patch is None:
                continue
            loc = ("detectors", "features", name, detector)
            defaults = {kind: getattr(settings, kind) for kind in kinds}
            usable = [kind for kind in kinds if detector in type(defaults[kind]).model_fields]
            if not usable:
                allowed = ", ".join(type(defaults[kinds[0]]).model_fields)
                what = f"does not apply to a {kinds[0]} feature (expected one of: {allowed})"
                problems.append(ConfigProblem(_source(loc, file, origins), ".".join(loc), what))
                continue
            probe = settings.model_copy(
                update={"features": {name: FeatureOverride.model_validate({detector: patch})}}
            )
            for kind in usable:
                try:
                    probe.resolved(name, kind)
                except ValidationError as error:
                    model = type(getattr(defaults[kind], detector))
                    problems += _problems(error.errors(), loc, model, file, origins)
                    break
    return problems


def _liveness_problems(
    config: ServiceConfig, file: str, origins: Mapping[tuple[str, ...], str]
) -> list[ConfigProblem]:
    """The loop waits up to ``kafka.consume_timeout_s`` per turn: liveness must allow more."""
    limit, wait = config.service.liveness_timeout_s, config.kafka.consume_timeout_s
    if limit > wait:
        return []
    loc = ("service", "liveness_timeout_s")
    what = (
        f"must exceed kafka.consume_timeout_s ({wait:g} s), the longest the loop waits for "
        f"records, or /healthz fails on an idle service (got {limit:g}; the default 120 also "
        "covers slow checkpoints)"
    )
    return [ConfigProblem(_source(loc, file, origins), ".".join(loc), what)]


def _attach_profile(config: ServiceConfig, folder: Path, source: str) -> list[ConfigProblem]:
    """Resolve ``reference.profile`` against ``folder`` and check that it is a profile."""
    given = config.reference.profile
    if given is None:
        return []
    path = (folder / given.expanduser()).resolve()
    hint = "" if given.is_absolute() else " (relative paths start at the config file's folder)"
    try:
        profile = Profile.model_validate_json(path.read_bytes())
    except FileNotFoundError:
        return [ConfigProblem(source, "reference.profile", f"{path}: no such file{hint}")]
    except OSError as error:
        return [ConfigProblem(source, "reference.profile", f"{path}: cannot read it ({error})")]
    except ValidationError as error:
        first = error.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "document"
        what = f"{path} is not a driftwarden profile ({where}: {first['msg']})"
        return [ConfigProblem(source, "reference.profile", what)]
    config.reference.profile = path
    config._profile = profile
    return []
