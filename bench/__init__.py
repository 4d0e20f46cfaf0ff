"""Benchmarks of the event backbone against raw nats-py, measured in the same run."""
