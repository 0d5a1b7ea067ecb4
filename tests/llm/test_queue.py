"""The queue provider (`queue:DIR`): requests written as files, replies read back, answered by a real client."""

from __future__ import annotations

import json

import pytest

from tritonsmith.llm import Budget, LLMError, ReplyPending, make_llm
from tritonsmith.llm.cache import request_key
from tritonsmith.llm.queue import QueueFolder, answer_waiting

from .conftest import assert_one_sentence

MESSAGES = [{"role": "system", "content": "You write kernels."}, {"role": "user", "content": "Write a softmax."}]


def ask(llm, **params):
    return llm.complete(MESSAGES, temperature=0.5, max_tokens=100, **params)


def test_a_request_waits_as_a_file_whose_name_is_the_request_key(tmp_path):
    llm = make_llm(f"queue:{tmp_path / 'q'}@openai/gpt-4o")
    with pytest.raises(ReplyPending) as first:
        ask(llm, cache_salt="lineage=0")
    with pytest.raises(ReplyPending) as again:  # the same request: the same file, asked once
        ask(llm, cache_salt="lineage=0")
    key = request_key("openai/gpt-4o", MESSAGES, {"temperature": 0.5, "max_tokens": 100}, "lineage=0")
    assert first.value.key == again.value.key == key  # the key a direct run with --model openai/gpt-4o records
    (path,) = (tmp_path / "q" / "pending").iterdir()
    assert path.name == key.split(":")[1] + ".json"
    request = json.loads(path.read_text())
    assert request["messages"] == MESSAGES and request["model"] == "openai/gpt-4o"
    assert request["params"] == {"temperature": 0.5, "max_tokens": 100} and request["cache_salt"] == "lineage=0"
    with pytest.raises(ReplyPending):
        ask(llm, cache_salt="lineage=1")  # another lineage's sample is another request
    assert len(list((tmp_path / "q" / "pending").iterdir())) == 2


def test_answered_by_a_real_client_the_reply_is_the_models_with_its_tokens(tmp_path, fake_llm, client):
    folder = tmp_path / "q"
    llm = make_llm(f"queue:{folder}", cache_path=tmp_path / "run" / "llm_cache.jsonl")
    with pytest.raises(ReplyPending):
        ask(llm)
    fake_llm.add("```python\nprint('kernel')\n```\n")
    answered = answer_waiting(folder, lambda wanted: client())
    assert answered == 1 and fake_llm.requests[0].body["messages"] == MESSAGES
    assert fake_llm.requests[0].body["temperature"] == 0.5 and fake_llm.requests[0].body["max_tokens"] == 100
    assert answer_waiting(folder, lambda wanted: client()) == 0  # nothing waits any more
    reply = ask(llm)
    assert reply.text == "```python\nprint('kernel')\n```\n" and not reply.cached
    assert (reply.tokens_in, reply.tokens_out) == (6, 3) and reply.cost is None and reply.estimate_reason is None
    assert reply.model == "openai/scripted-model"
    assert not list((folder / "pending").iterdir())  # read: it no longer waits
    again = ask(llm)  # from the run's reply cache now: charged once
    assert again.cached and again.text == reply.text
    resumed = make_llm(f"queue:{folder}", cache_path=tmp_path / "run" / "llm_cache.jsonl")
    budget = Budget()
    budget.restore_spending(resumed.cache.recorded_spend())
    assert budget.tokens == 9 and budget.unpriced_calls == 1 and budget.estimated_calls == 0


def test_a_reply_written_by_hand_has_estimated_tokens_and_no_price(tmp_path):
    folder = tmp_path / "q"
    llm = make_llm(f"queue:{folder}")
    with pytest.raises(ReplyPending) as pending:
        ask(llm)
    (folder / "replies" / f"{pending.value.key.split(':')[1]}.md").write_text("x" * 40)
    reply = ask(llm)
    assert reply.text == "x" * 40 and reply.tokens_out == 10 and reply.tokens_in == 9  # 35 characters of prompt
    assert reply.cost is None and "estimated" in reply.estimate_reason and "price unknown" in reply.estimate_reason
    budget = Budget(max_tokens=1000)
    budget.charge(reply)
    assert budget.snapshot()["spent"]["estimated_calls"] == 1 and budget.tokens == 19
    budget.check()  # a token budget still counts it


@pytest.mark.parametrize("content", [b"", b"  \n", b"\xff\xfe not text"])
def test_an_empty_or_unreadable_reply_is_one_sentence_naming_it(tmp_path, content):
    folder = tmp_path / "q"
    llm = make_llm(f"queue:{folder}")
    with pytest.raises(ReplyPending) as pending:
        ask(llm)
    path = folder / "replies" / f"{pending.value.key.split(':')[1]}.md"
    path.write_bytes(content)
    with pytest.raises(LLMError) as error:
        ask(llm)
    assert str(path) in str(error.value)
    assert_one_sentence(str(error.value))
    with pytest.raises(LLMError) as early:  # found before a run starts
        make_llm(f"queue:{folder}").prepare()
    assert str(early.value) == str(error.value)


def test_a_damaged_request_file_is_one_sentence_naming_it(tmp_path):
    folder = QueueFolder(tmp_path / "q")
    folder.make()
    (folder.pending / "abc.json").write_text('{"messages": [')
    with pytest.raises(LLMError) as error:
        answer_waiting(folder.folder, lambda wanted: None)
    assert "abc.json" in str(error.value)
    assert_one_sentence(str(error.value))


def test_replay_reads_only_the_runs_cache(tmp_path):
    folder = tmp_path / "q"
    cache = tmp_path / "llm_cache.jsonl"
    cache.write_text("")
    llm = make_llm(f"queue:{folder}", cache_path=cache, mode="replay")
    with pytest.raises(LLMError, match="replay reads no queue"):
        ask(llm)
    assert not (folder / "pending").exists()
