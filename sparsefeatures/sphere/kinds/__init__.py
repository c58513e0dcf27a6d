"""The sphere setting's regime kinds, one module each (sphere/registry.py lists them and says what
a kind's module provides)."""
