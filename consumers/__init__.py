"""Departments on Kafka: the outbox relay that publishes the event log, and the
reference consumer a department runs to receive its summonses."""
