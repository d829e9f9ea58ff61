"""Dataflows: thin wiring of one graph builder."""
