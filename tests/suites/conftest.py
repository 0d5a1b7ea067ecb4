"""Fixtures of the suite tests."""

from __future__ import annotations

import pytest


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """Generated suites and qualification records in this test's own cache folder, not the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
