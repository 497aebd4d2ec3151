"""Training data to a profile, in one streaming pass with bounded memory: ``readers`` read
CSV, JSON Lines and Parquet in chunks, ``chunk_typing`` types each chunk's columns,
``feature_accumulators`` keep per-feature sketches, ``profile_builder`` writes the profile
and ``profile_report`` shows where it is thin. ``row_hashes`` hashes rows for overlap checks.
"""
