"""Kafka message values to a ``FeatureBatch``: ``Decoder.decode(payloads, positions)`` reads
each JSON record, applies the input rules (features path, ignored fields, wrong types), and
returns per-feature columns plus the records it rejected, each with its reason.

Three paths give identical results, fastest first: the compiled ``scanner`` (strict JSON
straight into columns), msgspec structs of the known fields (``struct_decoder``), and plain
dicts (``raw_columns``); ``column_builder`` turns raw values into typed columns.
``input.decoder: msgspec`` (``decoder_options``) leaves the scanner out.
"""
