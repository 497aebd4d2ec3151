"""``driftwarden demo``: a seeded scenario with every data pitfall (``scenario``), streamed
through librdkafka's in-process mock cluster (``mock_cluster``) into the real service, and
scored against what was planted (``runner``).
"""
