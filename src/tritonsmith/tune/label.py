"""The text form of a tuning configuration: the tuned source's header, a replay table's keys (read back by
tune/replay.py) and the report all write it so. Nothing imported: the report reads it without the tuner."""

from __future__ import annotations

from collections.abc import Mapping


def config_label(config: Mapping[str, object]) -> str:
    """`knob=value, ...` sorted by knob id; "the original" for the empty configuration."""
    return ", ".join(f"{knob_id}={value}" for knob_id, value in sorted(config.items())) or "the original"
