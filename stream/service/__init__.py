"""The drift service, the one place records flow from Kafka to alerts: consume a batch, run
it through the record path (decode, detect, publish; ``record_path``), and checkpoint it
(``checkpointer``: confirm outputs, snapshot to the state topic, commit offsets), with every
output accounted to its input partition (``delivery``) so that nothing is committed past a
record whose alert or DLQ copy the broker has not confirmed (``stalls``).
"""
