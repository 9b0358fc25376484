"""devstack: a local data/ML platform sized to a memory budget."""

__version__ = "0.1.0"
