"""Small, mergeable summaries with stated bounds: a distinct counter, a Bloom filter of row
hashes, and the stable 64-bit value and row hash scheme they share (``hashing``).
"""
