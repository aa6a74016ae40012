"""Kafka to the lake's raw zone: event contracts, the simulator and the exactly-once sink."""
