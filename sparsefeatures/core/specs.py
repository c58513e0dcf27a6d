"""A regime's settings as a frozen dataclass built from its config entry: the one place its
defaults live (each setting's schema repeats them for users; tests check the two agree)."""

from __future__ import annotations

from dataclasses import fields


def from_config(spec_class: type, entry: dict, ignore: tuple[str, ...] = ("kind",)):
    """spec_class(**entry) without the keys `ignore`; keys that are not fields are errors."""
    known = {f.name for f in fields(spec_class)}
    entries = {k: v for k, v in entry.items() if k not in ignore}
    unknown = sorted(set(entries) - known)
    if unknown:
        raise ValueError(
            f"unknown {spec_class.__name__} fields {unknown}; expected some of {sorted(known)}"
        )
    return spec_class(**entries)
