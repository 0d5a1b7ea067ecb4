"""Fixtures for the llm tests: a scripted model on loopback and clients pointed at it."""

from __future__ import annotations

import pytest
from fakellm import FakeLLMServer

from tritonsmith.llm import make_llm

DUMMY_KEY = "dummy-key-for-tests"


@pytest.fixture
def fake_llm():
    """A started FakeLLMServer with an empty script: tests add replies with `fake_llm.add(...)`."""
    with FakeLLMServer() as server:
        yield server


@pytest.fixture
def client(fake_llm):
    """`client(**make_llm_kwargs)`: a client of the fake server, with retries fast enough for tests."""

    def make(model: str = "openai/scripted-model", **kwargs):
        kwargs.setdefault("api_base", fake_llm.url)
        kwargs.setdefault("api_key", DUMMY_KEY)
        kwargs.setdefault("retry_base_s", 0.01)
        kwargs.setdefault("timeout_s", 10)
        return make_llm(model, **kwargs)

    return make


def assert_one_sentence(message: str) -> None:
    """An error a user reads: one line, one sentence, no traceback."""
    assert "\n" not in message and "Traceback" not in message, message
    assert message.endswith("."), message
    assert len(message) < 400, message
