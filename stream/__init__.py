"""Everything of driftwarden that touches the outside world: Kafka, files, HTTP, the CLI.

A Kafka message becomes an alert in one direction (docs/architecture.md draws it):
``service`` consumes records, ``decoding`` turns each batch into per-feature columns (the
compiled ``decoding.scanner`` on the fast path), the ``driftwarden.detectors`` core finds
drift, ``cloudevents`` shapes the events, and ``service`` publishes them and checkpoints.
Offline, ``profiling`` builds the training profile the detectors compare with, ``leakage``
looks for training rows among evaluation rows, ``replay`` runs files through the same
detectors, and ``demo`` shows it all on an in-process Kafka. ``ops`` holds metrics, probes
and logging; ``config`` the validated YAML; ``commands`` and ``cli`` the user's door.

Imports only point down: commands -> service / demo / replay -> decoding / profiling /
leakage / ops -> sketches / config / cloudevents -> detectors (``tests/test_layout.py``).
"""
