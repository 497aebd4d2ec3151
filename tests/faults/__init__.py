"""Fault tests (issue 10): broker outages, SIGKILL in a consumer group, a DLQ that refuses
records, a poison key. Each checks docs/architecture.md "Delivery semantics" under one fault."""
