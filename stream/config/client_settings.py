"""Which ``kafka.client`` settings librdkafka has, and which hold secrets.

``kafka.client`` passes settings straight through to librdkafka (TLS, SASL, tuning), so a
misspelt one would otherwise be found only when the service creates its clients, and a
misspelt *secret* (``sasl.passwd``) would be printed in clear by ``config show`` and the start-up
log. librdkafka itself is asked whether a name exists (no client is created), and a name that
looks like a secret is never shown.
"""

from __future__ import annotations

import difflib
import functools
from typing import Annotated

from pydantic import AfterValidator

__all__ = [
    "COMMON_SETTINGS",
    "RESERVED_CLIENT_SETTINGS",
    "ClientSetting",
    "is_secret_setting",
    "librdkafka_setting_problem",
]

_SECRET_MARKERS = (
    "password",
    "passwd",
    "pwd",
    "secret",
    "token",
    "key",
    "credential",
    "jaas",
    "private",
)
_SECRET_SETTINGS = frozenset({"sasl.jaas.config", "sasl.oauthbearer.config"})
# librdkafka settings that a typed key (or the checkpoint protocol) owns.
RESERVED_CLIENT_SETTINGS = {
    "bootstrap.servers": "set kafka.bootstrap_servers instead",
    "group.id": "set kafka.group_id instead",
    "enable.auto.commit": "offsets are committed by the service after each checkpoint",
}

# confluent-kafka takes these keys as Python objects (callables, a dict); YAML cannot give one.
_PYTHON_ONLY_SETTINGS = frozenset(
    {
        "error_cb",
        "throttle_cb",
        "stats_cb",
        "logger",
        "oauth_cb",
        "on_delivery",
        "on_commit",
        "default.topic.config",
    }
)
# Only the source of "did you mean" hints: whether a setting exists is librdkafka's answer.
COMMON_SETTINGS = (
    "security.protocol",
    "sasl.mechanism",
    "sasl.mechanisms",
    "sasl.username",
    "sasl.password",
    "sasl.oauthbearer.config",
    "sasl.oauthbearer.method",
    "sasl.oauthbearer.client.id",
    "sasl.oauthbearer.client.secret",
    "sasl.oauthbearer.token.endpoint.url",
    "sasl.oauthbearer.scope",
    "sasl.oauthbearer.extensions",
    "sasl.kerberos.service.name",
    "sasl.kerberos.principal",
    "sasl.kerberos.keytab",
    "ssl.ca.location",
    "ssl.ca.pem",
    "ssl.certificate.location",
    "ssl.certificate.pem",
    "ssl.key.location",
    "ssl.key.pem",
    "ssl.key.password",
    "ssl.keystore.location",
    "ssl.keystore.password",
    "ssl.endpoint.identification.algorithm",
    "enable.ssl.certificate.verification",
    "ssl.cipher.suites",
    "client.id",
    "client.rack",
    "debug",
    "log_level",
    "log.connection.close",
    "statistics.interval.ms",
    "socket.timeout.ms",
    "socket.keepalive.enable",
    "socket.connection.setup.timeout.ms",
    "connections.max.idle.ms",
    "reconnect.backoff.ms",
    "reconnect.backoff.max.ms",
    "retry.backoff.ms",
    "metadata.max.age.ms",
    "topic.metadata.refresh.interval.ms",
    "broker.address.family",
    "client.dns.lookup",
    "message.max.bytes",
    "receive.message.max.bytes",
    "session.timeout.ms",
    "heartbeat.interval.ms",
    "max.poll.interval.ms",
    "auto.offset.reset",
    "isolation.level",
    "fetch.min.bytes",
    "fetch.max.bytes",
    "fetch.wait.max.ms",
    "max.partition.fetch.bytes",
    "queued.min.messages",
    "queued.max.messages.kbytes",
    "partition.assignment.strategy",
    "group.instance.id",
    "group.protocol",
    "enable.partition.eof",
    "check.crcs",
    "linger.ms",
    "batch.size",
    "batch.num.messages",
    "queue.buffering.max.messages",
    "queue.buffering.max.kbytes",
    "compression.type",
    "acks",
    "request.timeout.ms",
    "message.timeout.ms",
    "delivery.timeout.ms",
    "enable.idempotence",
    "transaction.timeout.ms",
    "max.in.flight.requests.per.connection",
    "retries",
)
_LIBRDKAFKA_MANUAL = "https://github.com/confluentinc/librdkafka/blob/master/CONFIGURATION.md"
# A property librdkafka knows, with a value it always refuses: see _librdkafka_answer.
_REFUSED = ("socket.timeout.ms", "not-a-number")


def is_secret_setting(key: str) -> bool:
    """Whether a librdkafka setting holds a secret (its value is never shown).

    A name containing ``password``, ``passwd``, ``pwd``, ``secret``, ``token``, ``key``,
    ``credential``, ``jaas`` or ``private`` (any case), or ``sasl.oauthbearer.config``.

    >>> [is_secret_setting(k) for k in ("sasl.password", "ssl.key.pem", "security.protocol")]
    [True, True, False]
    >>> [is_secret_setting(k) for k in ("sasl.passwd", "db.PWD", "aws.credentials", "x.private")]
    [True, True, True, True]
    """
    lowered = key.lower()
    return lowered in _SECRET_SETTINGS or any(marker in lowered for marker in _SECRET_MARKERS)


@functools.lru_cache(maxsize=1024)
def _librdkafka_answer(key: str) -> str:
    """librdkafka's answer to setting ``key``: ``""`` (it exists) or why it cannot be set.

    Asked without creating a client: confluent-kafka applies a config dict's entries in order
    and stops at the first that librdkafka refuses, before any client, thread or connection
    exists. ``key`` comes first (with an empty value, so its own value is never involved),
    then ``_REFUSED``, a known setting with a value librdkafka always refuses. The constructor
    therefore fails on ``key`` with "No such configuration property" when librdkafka does not
    know it, and otherwise on a value check (``key``'s or ``_REFUSED``'s). Setting names are
    global to librdkafka: a consumer-only setting is known to this producer-typed check too.
    """
    from confluent_kafka import KafkaException, Producer  # librdkafka loads only when needed

    if key == _REFUSED[0]:
        return ""
    try:
        producer = Producer({key: "", _REFUSED[0]: _REFUSED[1]})
    except KafkaException as error:
        message = error.args[0].str()
    except (TypeError, ValueError):
        return ""  # confluent-kafka type-checked the value itself: it knows the key
    else:  # pragma: no cover - librdkafka accepted _REFUSED; never seen, but leave no client
        producer.close()
        return ""
    if message.startswith("No such configuration property"):
        return "unknown"
    if "dedicated" in message or "not settable" in message:
        return "callback"
    return ""


def librdkafka_setting_problem(key: str) -> str | None:
    """What is wrong with ``key`` as a ``kafka.client`` setting, or ``None`` if librdkafka has it.

    librdkafka itself is asked (no client is created), so every setting of the installed
    version is accepted, for consumers and producers alike. The answer names the key only,
    never a value.

    >>> librdkafka_setting_problem("isolation.level") is None  # a consumer setting
    True
    >>> librdkafka_setting_problem("sasl.passwd")
    "unknown librdkafka setting (did you mean 'sasl.password'?)"
    >>> librdkafka_setting_problem("stats_cb")
    'a confluent-kafka Python callback, which a config file cannot give'
    """
    if key in _PYTHON_ONLY_SETTINGS:
        return "a confluent-kafka Python callback, which a config file cannot give"
    answer = _librdkafka_answer(key)
    if not answer:
        return None
    if answer == "callback":
        return "a librdkafka callback or internal property, which a config file cannot give"
    close = difflib.get_close_matches(key.lower(), COMMON_SETTINGS, n=1)
    if close:
        return f"unknown librdkafka setting (did you mean '{close[0]}'?)"
    return f"unknown librdkafka setting (the settings are listed in {_LIBRDKAFKA_MANUAL})"


def _known_setting(key: str) -> str:
    problem = librdkafka_setting_problem(key)
    if problem is not None:
        raise ValueError(problem)
    return key


ClientSetting = Annotated[str, AfterValidator(_known_setting)]
