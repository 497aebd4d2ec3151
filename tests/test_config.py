"""The service config: examples load, errors name the key path, overrides, secrets, schema."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from pydantic import BaseModel

from driftwarden.detectors.profile import (
    CategoricalSummary,
    FeatureProfile,
    NumericSummary,
    Profile,
)
from driftwarden.stream.commands.config_cmd import config_schema_text, run
from driftwarden.stream.config import REDACTED, ConfigError, ServiceConfig, load_config
from driftwarden.stream.config.client_settings import (
    COMMON_SETTINGS,
    is_secret_setting,
    librdkafka_setting_problem,
)

REPO_DIR = Path(__file__).resolve().parent.parent
EXAMPLES = sorted((REPO_DIR / "config").glob("*.yaml"))
SECRET = "s3cr3t-Hunter2-do-not-log"
MINIMAL = """\
kafka:
  bootstrap_servers: "127.0.0.1:19092"
  input_topics: [features]
"""


def _write(folder: Path, text: str, name: str = "config.yaml") -> Path:
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def _errors(path: Path, overrides: list[str] | None = None, env: dict[str, str] | None = None):
    with pytest.raises(ConfigError) as caught:
        load_config(path, overrides or [], env=env or {})
    return str(caught.value).splitlines()


def _profile(folder: Path, name: str = "train.json") -> Path:
    profile = Profile(
        n_rows=4,
        features={
            "amount": FeatureProfile(
                kind="numeric",
                count=4,
                null_count=0,
                numeric=NumericSummary(
                    mean=1.5, std=0.5, min=1.0, max=2.0, bin_edges=[1.5], bin_counts=[0, 2, 2, 0]
                ),
            ),
            "country": FeatureProfile(
                kind="categorical",
                count=4,
                null_count=0,
                categorical=CategoricalSummary(top={"FR": 3, "DE": 1}),
            ),
        },
    )
    path = folder / name
    path.write_text(profile.model_dump_json(), encoding="utf-8")
    return path


# --- the examples ---------------------------------------------------------------------------


def test_config_folder_holds_the_four_examples() -> None:
    names = {path.name for path in EXAMPLES}
    assert {"service.yaml", "minimal.yaml", "secure-sasl.yaml", "tuning-thresholds.yaml"} <= names


@pytest.mark.parametrize("path", EXAMPLES, ids=[path.name for path in EXAMPLES])
def test_every_example_config_loads_and_is_commented(path: Path) -> None:
    config = load_config(path, env={})
    assert config.kafka.input_topics
    assert path.read_text(encoding="utf-8").lstrip().startswith("#")


def test_tuning_example_overrides_a_threshold_of_one_feature_only() -> None:
    config = load_config(REPO_DIR / "config" / "tuning-thresholds.yaml", env={})
    assert config.detectors.resolved("loan_amount", "numeric").adwin.delta == 1e-7
    assert config.detectors.resolved("age", "numeric").adwin.delta == 1e-5


# --- errors name the key path ---------------------------------------------------------------


def test_unknown_key_at_depth_names_its_path(tmp_path: Path) -> None:
    text = MINIMAL.replace("input_topics", "input_topcs") + (
        "detectors:\n  numeric:\n    adwin:\n      delat: 0.01\n"
    )
    lines = _errors(_write(tmp_path, text))
    source = str(tmp_path / "config.yaml")
    assert f"{source}: kafka.input_topcs: unknown key (did you mean 'input_topics'?)" in lines
    assert f"{source}: detectors.numeric.adwin.delat: unknown key (did you mean 'delta'?)" in lines
    assert f"{source}: kafka.input_topics: required key is missing" in lines


def test_wrong_type_and_range_give_path_and_expectation(tmp_path: Path) -> None:
    text = MINIMAL + (
        "  consume_batch: lots\n"
        "service: {log_format: xml}\n"
        "detectors: {numeric: {adwin: {delta: 2}}}\n"
    )
    lines = _errors(_write(tmp_path, text))
    assert any(
        line.endswith(
            "kafka.consume_batch: Input should be a valid integer, unable to parse "
            "string as an integer (got 'lots')"
        )
        for line in lines
    )
    assert any(
        "service.log_format: Input should be 'auto', 'json' or 'console'" in line for line in lines
    )
    assert any(
        "detectors.numeric.adwin.delta: Input should be less than 1" in line for line in lines
    )


def test_yaml_syntax_error_names_file_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "input:\n  ignore: [a, b\n  max_message_bytes: 10\n")
    (line,) = _errors(path)
    assert line.startswith(f"{path}: line 6, column 20: invalid YAML:")
    assert "at line 5, column 11" in line


def test_duplicate_key_in_a_mapping_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "  input_topics: [other]\n")
    assert _errors(path) == [
        f"{path}: line 4, column 3: invalid YAML: duplicate key 'input_topics'"
    ]


def test_missing_config_file_is_one_line(tmp_path: Path) -> None:
    assert _errors(tmp_path / "nope.yaml") == [f"{tmp_path / 'nope.yaml'}: no such file"]


def test_a_file_that_is_not_a_mapping_is_rejected(tmp_path: Path) -> None:
    (line,) = _errors(_write(tmp_path, "- kafka\n"))
    assert "expected a mapping of sections" in line


def test_feature_override_is_validated_against_its_detector(tmp_path: Path) -> None:
    text = MINIMAL + (
        "detectors:\n"
        "  features:\n"
        "    price: {adwin: {delat: 1}, histogram: {window: 10}}\n"
        "    country: {kind: categorical, adwin: {delta: 0.1}}\n"
        "    city: {null_rate: {z_threshold: -1}}\n"
    )
    lines = [line.split(": ", 1)[1] for line in _errors(_write(tmp_path, text))]
    assert "detectors.features.price.adwin.delat: unknown key (did you mean 'delta'?)" in lines
    assert any(
        line.startswith("detectors.features.price.histogram.window: Input should be")
        for line in lines
    )
    assert any(
        line.startswith("detectors.features.country.adwin: does not apply to a categorical feature")
        for line in lines
    )
    assert any(
        line.startswith("detectors.features.city.null_rate.z_threshold: Input should be")
        for line in lines
    )
    assert len(lines) == 4


def test_defaults_leave_the_tumbling_windows_off_and_judge_incidents(tmp_path: Path) -> None:
    detectors = load_config(_write(tmp_path, MINIMAL), env={}).detectors
    assert not detectors.numeric.histogram.enabled
    assert not detectors.numeric.null_rate.enabled
    assert not detectors.categorical.null_rate.enabled
    assert detectors.incidents.mean_shift_floor == 0.25
    assert detectors.incidents.psi_floor == 0.1


def test_incident_settings_load_and_a_misspelt_one_names_its_path(tmp_path: Path) -> None:
    text = MINIMAL + "detectors:\n  incidents: {psi_floor: 0.2, resolve_panes: 5}\n"
    detectors = load_config(_write(tmp_path, text), env={}).detectors
    assert (detectors.incidents.psi_floor, detectors.incidents.resolve_panes) == (0.2, 5)
    lines = _errors(_write(tmp_path, MINIMAL + "detectors: {incidents: {psi_flor: 0.2}}\n"))
    assert [line.split(": ", 1)[1] for line in lines] == [
        "detectors.incidents.psi_flor: unknown key (did you mean 'psi_floor'?)"
    ]


def test_feature_override_of_incident_settings_loads_and_is_validated(tmp_path: Path) -> None:
    text = MINIMAL + "detectors:\n  features:\n    price: {incidents: {mean_shift_floor: 2.0}}\n"
    detectors = load_config(_write(tmp_path, text), env={}).detectors
    assert detectors.incident_settings("price").mean_shift_floor == 2.0
    assert detectors.incident_settings("age").mean_shift_floor == 0.25
    bad = MINIMAL + "detectors:\n  features:\n    price: {incidents: {mean_shift_flor: 2}}\n"
    lines = [line.split(": ", 1)[1] for line in _errors(_write(tmp_path, bad))]
    assert lines == [
        "detectors.features.price.incidents.mean_shift_flor: unknown key "
        "(did you mean 'mean_shift_floor'?)"
    ]


def test_client_settings_owned_by_typed_keys_are_refused(tmp_path: Path) -> None:
    (line,) = _errors(_write(tmp_path, MINIMAL + "  client: {group.id: other}\n"))
    assert line.endswith("kafka.client: 'group.id' cannot be set here: set kafka.group_id instead")


def test_consumer_only_and_producer_only_librdkafka_settings_are_accepted(
    tmp_path: Path,
) -> None:
    client = {
        "isolation.level": "read_committed",  # consumer only
        "enable.partition.eof": False,  # consumer only
        "linger.ms": 5,  # producer only
        "compression.type": "zstd",  # producer only
        "ssl.endpoint.identification.algorithm": "none",
        "log.connection.close": False,
    }
    document = yaml.safe_load(MINIMAL)
    document["kafka"]["client"] = client
    config = load_config(_write(tmp_path, yaml.safe_dump(document)), env={})
    assert config.kafka.client == client


def test_a_misspelt_client_setting_is_one_line_that_never_shows_its_value(
    tmp_path: Path,
) -> None:
    path = _write(tmp_path, MINIMAL + f"  client: {{sasl.passwd: {SECRET}}}\n")
    assert _errors(path) == [
        f"{path}: kafka.client.sasl.passwd: unknown librdkafka setting "
        "(did you mean 'sasl.password'?)"
    ]
    from_env = _errors(
        _write(tmp_path, MINIMAL, "other.yaml"),
        ["kafka.client.SSL.Key.Pasword=" + SECRET],
        env={"DRIFTWARDEN_KAFKA__CLIENT__SASL_PASSWD": SECRET},
    )
    assert from_env == [
        "$DRIFTWARDEN_KAFKA__CLIENT__SASL_PASSWD: kafka.client.sasl.passwd: unknown librdkafka "
        "setting (did you mean 'sasl.password'?)",
        "--set: kafka.client.SSL.Key.Pasword: unknown librdkafka setting "
        "(did you mean 'ssl.key.password'?)",
    ]
    assert SECRET not in "\n".join(from_env)


def test_an_unknown_setting_without_a_near_name_points_at_the_librdkafka_manual(
    tmp_path: Path,
) -> None:
    (line,) = _errors(_write(tmp_path, MINIMAL + "  client: {zzz: 1}\n"))
    assert line.endswith(
        "kafka.client.zzz: unknown librdkafka setting (the settings are listed in "
        "https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md)"
    )


def test_python_callbacks_of_confluent_kafka_are_refused_as_client_settings(
    tmp_path: Path,
) -> None:
    text = MINIMAL + "  client: {stats_cb: print, on_commit: x, dr_msg_cb: y}\n"
    assert _errors(_write(tmp_path, text)) == [
        f"{tmp_path / 'config.yaml'}: kafka.client.{key}: {what}, which a config file cannot give"
        for key, what in [
            ("stats_cb", "a confluent-kafka Python callback"),
            ("on_commit", "a confluent-kafka Python callback"),
            ("dr_msg_cb", "a librdkafka callback or internal property"),
        ]
    ]


def test_every_did_you_mean_hint_is_a_setting_librdkafka_has() -> None:
    assert [key for key in COMMON_SETTINGS if librdkafka_setting_problem(key)] == []


def test_asking_librdkafka_about_a_setting_starts_no_client(
    capfd: pytest.CaptureFixture[str],
) -> None:
    tasks = Path("/proc/self/task")
    before = len(list(tasks.iterdir())) if tasks.exists() else None
    assert librdkafka_setting_problem("sasl.kerberos.min.time.before.relogin") is None
    assert librdkafka_setting_problem("ssl.engine.id") is None
    assert librdkafka_setting_problem("no.such.setting.anywhere") is not None
    if before is not None:  # librdkafka's threads are native: count the process's threads
        assert len(list(tasks.iterdir())) == before
    assert capfd.readouterr().err == ""  # no CONFWARN from a client being created


def test_liveness_timeout_must_exceed_the_consume_timeout(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    assert load_config(path, env={}).service.liveness_timeout_s == 120.0
    (line,) = _errors(path, ["service.liveness_timeout_s=0.5"])
    assert line.startswith(
        "--set: service.liveness_timeout_s: must exceed kafka.consume_timeout_s (0.5 s)"
    )


def test_unquoted_yaml_null_selects_the_null_mode_of_on_wrong_type(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, MINIMAL + "input: {on_wrong_type: null}\n"), env={})
    assert config.input.on_wrong_type == "null"


# --- --set and the environment --------------------------------------------------------------


def test_set_overrides_env_which_overrides_the_file(tmp_path: Path) -> None:
    path = _write(
        tmp_path, MINIMAL + "  group_id: from-file\n  consume_batch: 10\n  alerts_topic: f\n"
    )
    env = {"DRIFTWARDEN_KAFKA__GROUP_ID": "from-env", "DRIFTWARDEN_KAFKA__CONSUME_BATCH": "20"}
    config = load_config(path, ["kafka.group_id=from-set"], env=env)
    assert (config.kafka.group_id, config.kafka.consume_batch) == ("from-set", 20)
    assert config.kafka.alerts_topic == "f"


def test_set_values_are_yaml_lists_and_numbers(tmp_path: Path) -> None:
    overrides = [
        "kafka.input_topics=[a,b]",
        "detectors.numeric.adwin.delta=1e-6",
        "detectors.features.price.adwin.delta=1e-7",
        "reference.profile=null",
    ]
    config = load_config(_write(tmp_path, MINIMAL), overrides, env={})
    assert config.kafka.input_topics == ["a", "b"]
    assert config.detectors.numeric.adwin.delta == 1e-6
    assert config.detectors.resolved("price", "numeric").adwin.delta == 1e-7


def test_set_with_an_unknown_key_path_names_it(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    assert _errors(path, ["kafka.input_topcs=[a]"]) == [
        "--set: kafka.input_topcs: unknown key (did you mean 'input_topics'?)"
    ]
    assert _errors(path, ["kafka.group_id.x=1"]) == [
        "--set: kafka.group_id.x: kafka.group_id is a single value, it has no keys"
    ]
    assert _errors(path, ["no-equals-sign"]) == ["--set: no-equals-sign: expected key.path=value"]


def test_a_bad_value_is_blamed_on_the_layer_that_set_it(tmp_path: Path) -> None:
    lines = _errors(
        _write(tmp_path, MINIMAL),
        ["detectors.numeric.adwin.delta=2"],
        env={"DRIFTWARDEN_KAFKA__CONSUME_BATCH": "lots"},
    )
    assert lines[0].startswith("$DRIFTWARDEN_KAFKA__CONSUME_BATCH: kafka.consume_batch: ")
    assert lines[1] == "--set: detectors.numeric.adwin.delta: Input should be less than 1 (got 2)"


def test_env_variable_naming_no_key_is_an_error_and_others_are_ignored(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    env = {"DRIFTWARDEN_KAFKA__BOOTSTRAP_SERVER": "x", "DRIFTWARDEN_BOOTSTRAP": "y", "HOME": "/"}
    assert _errors(path, env=env) == [
        "$DRIFTWARDEN_KAFKA__BOOTSTRAP_SERVER: kafka.bootstrap_server: unknown key "
        "(did you mean 'bootstrap_servers'?)"
    ]


def test_client_secret_comes_verbatim_from_the_environment(tmp_path: Path) -> None:
    password = "null #[x: y"  # would not survive being read as YAML
    env = {
        "DRIFTWARDEN_KAFKA__CLIENT__SASL_PASSWORD": password,
        "DRIFTWARDEN_KAFKA__CLIENT__SECURITY_PROTOCOL": "SASL_SSL",
    }
    config = load_config(_write(tmp_path, MINIMAL), env=env)
    assert config.kafka.client == {"sasl.password": password, "security.protocol": "SASL_SSL"}
    assert config.librdkafka(**{"group.id": "g"}) == {
        "bootstrap.servers": "127.0.0.1:19092",
        "sasl.password": password,
        "security.protocol": "SASL_SSL",
        "group.id": "g",
    }


# --- secrets --------------------------------------------------------------------------------


SECRET_CLIENT = {
    "sasl.password": SECRET,
    "ssl.key.pem": SECRET + "-pem",
    "sasl.oauthbearer.client.secret": SECRET + "-oauth",
    "sasl.jaas.config": f'PlainLoginModule required username="u" password="{SECRET}";',
    "sasl.oauthbearer.token.endpoint.url": "https://idp.example.com/token",
}


def _secret_config(tmp_path: Path) -> Path:
    document = yaml.safe_load(MINIMAL)
    document["kafka"]["client"] = SECRET_CLIENT
    return _write(tmp_path, yaml.safe_dump(document))


def test_redacted_hides_every_secret_client_setting(tmp_path: Path) -> None:
    config = load_config(_secret_config(tmp_path), env={})
    assert config.kafka.client["sasl.password"] == SECRET
    redacted = config.redacted()
    assert SECRET not in json.dumps(redacted)
    assert redacted["kafka"]["client"]["sasl.jaas.config"] == REDACTED
    assert redacted["kafka"]["client"]["sasl.oauthbearer.token.endpoint.url"] == REDACTED  # "token"


@pytest.mark.parametrize(
    "key",
    ["sasl.passwd", "db.pwd", "sasl.aws.credentials", "x.jaas.file", "ssl.private.pem"],
)
def test_likely_secrets_are_secret_settings(key: str) -> None:
    assert is_secret_setting(key) and is_secret_setting(key.upper())


def test_redacted_hides_the_value_of_a_key_librdkafka_does_not_know(tmp_path: Path) -> None:
    config = load_config(_write(tmp_path, MINIMAL), env={})
    # Validation refuses such a key; a copy made without validation must still not show it.
    config.kafka = config.kafka.model_copy(update={"client": {"sasl.pasword": SECRET}})
    assert config.redacted()["kafka"]["client"] == {"sasl.pasword": REDACTED}


def test_config_show_never_prints_a_misspelt_secret(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, MINIMAL + f"  client: {{sasl.passwd: {SECRET}}}\n")
    assert run(["show", str(path)]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert SECRET not in captured.err
    assert "kafka.client.sasl.passwd: unknown librdkafka setting" in captured.err


def test_config_show_prints_the_effective_config_without_secrets(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DRIFTWARDEN_KAFKA__CLIENT__SSL_KEY_PASSWORD", SECRET + "-env")
    path = _secret_config(tmp_path)
    assert run(["show", str(path), "--set", "kafka.consume_batch=7"]) == 0
    out = capsys.readouterr().out
    assert SECRET not in out
    shown = yaml.safe_load(out)
    assert shown["kafka"]["consume_batch"] == 7
    assert shown["kafka"]["client"]["ssl.key.password"] == REDACTED
    assert shown["detectors"]["schema"]["max_fields"] == 1000


def test_client_values_never_appear_in_error_messages(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + f"  client: {{sasl.password: [{SECRET}]}}\n  group_id: ''\n")
    message = "\n".join(_errors(path))
    assert "kafka.client: 'sasl.password' must be a string, number or boolean" in message
    assert SECRET not in message


def test_diff_lists_changed_keys_with_secrets_redacted(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL)
    old = load_config(path, env={"DRIFTWARDEN_KAFKA__CLIENT__SASL_PASSWORD": "old-" + SECRET})
    new = load_config(
        path,
        [
            "detectors.numeric.page_hinkley.threshold=200",
            "detectors.features.price.adwin.delta=0.1",
        ],
        env={"DRIFTWARDEN_KAFKA__CLIENT__SASL_PASSWORD": "new-" + SECRET},
    )
    assert old.diff(new) == [
        ("detectors.features.price.adwin.delta", None, 0.1),
        ("detectors.numeric.page_hinkley.threshold", 150.0, 200.0),
        ("kafka.client.sasl.password", REDACTED, REDACTED),
    ]
    assert old.diff(old) == []


# --- the reference profile ------------------------------------------------------------------


def test_missing_profile_file_names_the_key_and_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path, MINIMAL + "reference: {profile: profiles/train.json}\n")
    assert _errors(path) == [
        f"{path}: reference.profile: {tmp_path / 'profiles' / 'train.json'}: no such file "
        "(relative paths start at the config file's folder)"
    ]


def test_a_file_that_is_not_a_profile_is_rejected(tmp_path: Path) -> None:
    (tmp_path / "train.json").write_text('{"n_rows": -1}', encoding="utf-8")
    (line,) = _errors(_write(tmp_path, MINIMAL + "reference: {profile: train.json}\n"))
    assert f"reference.profile: {tmp_path / 'train.json'} is not a driftwarden profile" in line


def test_profile_path_is_relative_to_the_config_folder_and_read_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    profile_path = _profile(tmp_path)
    (tmp_path / "conf").mkdir()
    path = _write(tmp_path / "conf", MINIMAL + "reference: {profile: ../train.json}\n")
    monkeypatch.chdir(REPO_DIR)
    config = load_config(path, env={})
    assert config.reference.profile == profile_path.resolve()
    profile = config.reference_profile()
    assert profile is not None and sorted(profile.features) == ["amount", "country"]


# --- the command line -----------------------------------------------------------------------


def test_config_validate_prints_a_summary_and_exits_zero(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _profile(tmp_path)
    text = (
        MINIMAL + "reference: {profile: train.json}\ndetectors: {features: {price: {adwin: {}}}}\n"
    )
    assert run(["validate", str(_write(tmp_path, text))]) == 0
    (line,) = capsys.readouterr().out.splitlines()
    assert "reads features from 127.0.0.1:19092" in line
    assert "(2 features)" in line
    assert "1 features overridden (price)" in line


def test_config_validate_exits_two_with_error_lines_and_no_traceback(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path, MINIMAL.replace("input_topics", "input_topcs"))
    assert run(["validate", str(path), "--set", "kafka.consume_batch=0"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "Traceback" not in captured.err
    assert f"{path}: kafka.input_topcs: unknown key" in captured.err
    assert "--set: kafka.consume_batch: Input should be greater than or equal to 1" in captured.err


def test_config_schema_prints_the_model_schema(capsys: pytest.CaptureFixture[str]) -> None:
    assert run(["schema"]) == 0
    assert json.loads(capsys.readouterr().out) == ServiceConfig.model_json_schema()


def test_docs_schema_file_is_current() -> None:
    published = (REPO_DIR / "docs" / "config.schema.json").read_text(encoding="utf-8")
    assert published == config_schema_text(), (
        "regenerate: driftwarden config schema -o docs/config.schema.json"
    )


def _leaf_keys(model: type[BaseModel], prefix: str = "") -> dict[str, Any]:
    leaves: dict[str, Any] = {}
    for name, field in model.model_fields.items():
        key = prefix + (field.alias or name)
        annotation = field.annotation
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            leaves.update(_leaf_keys(annotation, key + "."))
        elif field.is_required():
            leaves[key] = "—"
        else:
            leaves[key] = field.get_default(call_default_factory=True)
    return leaves


def test_docs_describe_every_key_with_its_default() -> None:
    text = (REPO_DIR / "docs" / "config.md").read_text(encoding="utf-8")
    rows = dict(re.findall(r"^\| `([a-z_.]+)` \| `?([^|`]*)`? \|", text, flags=re.MULTILINE))
    for key, default in _leaf_keys(ServiceConfig).items():
        assert key in rows, f"docs/config.md has no row for {key}"
        documented = rows[key] if default == "—" else yaml.safe_load(rows[key])
        if isinstance(default, float):
            documented = float(documented)
        assert documented == default, f"docs/config.md gives {key} the default {rows[key]}"


def test_config_show_output_loads_back_to_the_same_config(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in [name for name in os.environ if name.startswith("DRIFTWARDEN_")]:
        monkeypatch.delenv(name)
    example = REPO_DIR / "config" / "tuning-thresholds.yaml"
    assert run(["show", str(example)]) == 0
    shown = _write(tmp_path, capsys.readouterr().out, "shown.yaml")
    assert load_config(example, env={}).diff(load_config(shown, env={})) == []
