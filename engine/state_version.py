"""The recovery state's layout version (its own module: the CLI checks it without importing the
graph)."""

STATE_VERSION = 9
"""Layout version of the steps' recovery state. Bump it whenever a stateful class gains, loses
or renames a field (tests/unit/test_state_version.py pins the layout and says when): a snapshot
of another version is refused (`engine.steps.RecoveryStateError`, and by the CLI before a run
resumes), never loaded into objects that would read it wrongly."""
