"""The Decoder settings the service and replay derive from a config and a profile."""

from __future__ import annotations

from typing import Any

from driftwarden.detectors.profile import Profile
from driftwarden.detectors.settings import DetectorSettings
from driftwarden.stream.config import InputSection

__all__ = ["decoder_options"]


def decoder_options(
    settings: DetectorSettings, input_section: InputSection, profile: Profile | None
) -> dict[str, Any]:
    """The ``Decoder`` keyword arguments the service derives from its config and profile.

    >>> options = decoder_options(
    ...     DetectorSettings(features={"zip": {"kind": "categorical"}}),
    ...     InputSection(ignore=["id"], event_time_field="ts"), None)
    >>> options["kinds"], options["ignore"]
    ({'zip': 'categorical'}, ['id', 'ts'])
    """
    kinds: dict[str, str] = {}
    if profile is not None:
        kinds.update({name: feature.kind for name, feature in profile.features.items()})
    for name, override in settings.features.items():
        if override.kind is not None:
            kinds[name] = override.kind
    ignore = list(input_section.ignore)
    if input_section.event_time_field:
        ignore.append(input_section.event_time_field)
    return {
        "kinds": kinds,
        "features_path": input_section.features_path,
        "ignore": ignore,
        "max_message_bytes": input_section.max_message_bytes,
        "on_wrong_type": input_section.on_wrong_type,
        "decoder": input_section.decoder,
    }
