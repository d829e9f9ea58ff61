"""The `solarb` command line (cli/main.py; paper/live/record in cli/live.py)."""
