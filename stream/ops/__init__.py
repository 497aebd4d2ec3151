"""What operators see of a running service: Prometheus metrics, the liveness and readiness
probes on one HTTP endpoint, structured logs (librdkafka's included), and how a stop signal
during start-up is honoured.
"""
