"""The command line: python -m studio <command>, one module per group of commands."""
