"""Helpers for the tuner's tests: kernel files in kernels/, a clock the tests move, scripted timings."""

from __future__ import annotations

from pathlib import Path

import pytest

from tritonsmith.tune import Discovery, Knob

KERNELS = Path(__file__).parent / "kernels"


class FakeClock:
    """time.monotonic's stand-in: time passes only when a test says so."""

    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def kernel():
    def read(name: str) -> str:
        return (KERNELS / f"{name}.py").read_text()
    return read


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


def find(discovery: Discovery, **match) -> Knob:
    """The one knob whose attributes (param, value, variable, branch, origin, ...) all match."""
    found = [k for k in discovery.knobs if all(getattr(k, name) == value for name, value in match.items())]
    assert len(found) == 1, (match, [k.describe() for k in discovery.knobs])
    return found[0]


@pytest.fixture
def knob():
    return find
