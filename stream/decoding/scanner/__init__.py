"""The compiled JSON scanner: numba kernels that read a batch of JSON records straight into
float64 columns and per-batch label codes, with no Python object per value.

It handles a strict subset of JSON and refuses everything else, record by record: a refused
record goes to the struct or dict path, so the scanner changes speed, never results.
``json_tokens`` reads tokens, ``decimal_float`` converts numbers exactly (bit for bit
``float(text)``), ``json_scan`` scans records; ``kernel_cache`` keeps their compiled code on
disk until any of these modules changes. ``input.decoder: msgspec`` turns the scanner off.
"""
