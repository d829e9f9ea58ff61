from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def _readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    block = re.search(r"```bash\n(.*?)```", text, re.S)
    assert block is not None, "README must open with a bash block of the two commands"
    assert text.index("```bash") < text.index("\n## "), "the commands come before any section"
    return [ln for ln in block.group(1).splitlines() if ln.strip()]


def _recipe(name: str) -> str:
    lines = (ROOT / "Justfile").read_text().splitlines()
    i = next(i for i, ln in enumerate(lines) if ln.startswith(f"{name}:"))
    return lines[i + 1].strip()


def test_readme_starts_with_exactly_two_commands() -> None:
    cmds = _readme_commands()
    assert len(cmds) == 2
    assert cmds[0].endswith("solarb replay --sample")
    assert cmds[1].endswith("python -m pytest")


def test_readme_commands_are_the_justfile_demo_and_test_recipes() -> None:
    demo, test = _readme_commands()
    assert _recipe("demo") == demo
    assert _recipe("test") == test


def test_ci_runs_the_readme_test_command_verbatim() -> None:
    _, test = _readme_commands()
    ci = (ROOT / ".ci" / "run").read_text().splitlines()
    assert test in ci
    assert "set -euo pipefail" in ci
