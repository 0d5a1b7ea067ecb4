"""API keys never reach the cache, error messages, logs or the returned text."""

from __future__ import annotations

import logging

import pytest
from fakellm import Fail

from tritonsmith.llm import LLMError

PLANTED = "sk-planted-A1b2C3d4E5f6G7h8I9j0"


def test_planted_key_is_scrubbed_everywhere(fake_llm, client, tmp_path, caplog, capsys):
    caplog.set_level(logging.DEBUG)
    cache = tmp_path / "llm.jsonl"
    fake_llm.add(f"you sent me {PLANTED}", Fail(500), Fail(401, f"Incorrect API key provided: {PLANTED}"))
    llm = client(api_key=PLANTED, cache_path=cache, max_retries=1)
    reply = llm.complete([{"role": "user", "content": "hello"}])
    with pytest.raises(LLMError) as error:
        llm.complete([{"role": "user", "content": "again"}])
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {PLANTED}"  # it was really used
    assert "rejected the API key (HTTP 401)" in str(error.value)
    captured = capsys.readouterr()
    for text in (reply.text, cache.read_text(), str(error.value), error.value.detail, repr(llm),
                 caplog.text, captured.out, captured.err):
        assert PLANTED not in text
    assert "[redacted]" in reply.text and "[redacted]" in error.value.detail


def test_key_from_the_environment_is_scrubbed(fake_llm, client, monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", PLANTED)
    fake_llm.add(Fail(400, f"bad key {PLANTED}"))
    with pytest.raises(LLMError) as error:
        client(api_key=None).complete([{"role": "user", "content": "hi"}])
    assert fake_llm.requests[0].headers["authorization"] == f"Bearer {PLANTED}"
    assert PLANTED not in str(error.value) and "[redacted]" in str(error.value)
