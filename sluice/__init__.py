"""Sluice: shared code for the streaming data platform."""
