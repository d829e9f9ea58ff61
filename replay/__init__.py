"""Replay and simulation tooling."""
