"""``check-leakage``: training rows that reappear among evaluation rows (exact duplicates by
row hash), and single features that separate the sets too well (one-feature AUC).
"""
