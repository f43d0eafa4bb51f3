"""fixuser: make containers stop running as root (CIS Docker Benchmark 4.1)."""

__version__ = "0.1.0"
