"""Record and replay: hits make no provider call, misses in replay raise, the file survives kills."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import threading
import time

import pytest
from fakellm import Fail, FakeLLMServer

from tritonsmith.llm import LLMError, ReplayMiss, make_llm
from tritonsmith.llm.cache import ReplyCache

USER = [{"role": "user", "content": "fuse these two kernels"}]


def test_record_then_hit_without_calling_the_server(fake_llm, client, tmp_path):
    fake_llm.add("recorded answer")
    cache = tmp_path / "llm.jsonl"
    first = client(cache_path=cache, price_per_mtok=(1.0, 2.0)).complete(USER, temperature=0)
    again = client(cache_path=cache, price_per_mtok=(1.0, 2.0)).complete(USER, temperature=0)
    assert fake_llm.calls == 1
    assert not first.cached and again.cached
    assert (again.text, again.tokens_in, again.tokens_out, again.cost) == (
        first.text, first.tokens_in, first.tokens_out, first.cost)
    (line,) = cache.read_text().splitlines()
    record = json.loads(line)
    assert record["request"]["messages"] == USER and record["request"]["params"] == {"temperature": 0}
    assert record["reply"]["text"] == "recorded answer"


def test_key_covers_messages_params_and_salt(fake_llm, client, tmp_path):
    fake_llm.add("a", "b", "c", "d")
    llm = client(cache_path=tmp_path / "llm.jsonl")
    texts = [llm.complete(USER).text, llm.complete(USER, temperature=0.7).text,
             llm.complete(USER, cache_salt="lineage-1").text,
             llm.complete([{"role": "user", "content": "something else"}]).text]
    assert texts == ["a", "b", "c", "d"] and fake_llm.calls == 4
    assert llm.complete(USER, cache_salt="lineage-1").text == "c" and fake_llm.calls == 4


def test_replay_serves_recordings_offline_and_misses_raise(fake_llm, client, tmp_path, closed_port):
    fake_llm.add("recorded")
    cache = tmp_path / "llm.jsonl"
    client(cache_path=cache).complete(USER)
    # Another address and no key: neither is part of the key, and replay never calls out.
    replay = make_llm("openai/scripted-model", api_base=f"http://127.0.0.1:{closed_port}/v1",
                      cache_path=cache, mode="replay")
    assert replay.complete(USER).text == "recorded"
    with pytest.raises(ReplayMiss, match="No recorded reply") as miss:
        replay.complete(USER, temperature=1.0)
    assert miss.value.key.startswith("sha256:")
    assert fake_llm.calls == 1


def test_mode_off_ignores_the_cache(fake_llm, client, tmp_path):
    fake_llm.add("one", "two")
    cache = tmp_path / "llm.jsonl"
    llm = client(cache_path=cache, mode="off")
    assert [llm.complete(USER).text, llm.complete(USER).text] == ["one", "two"]
    assert not cache.exists()


def test_torn_last_line_is_tolerated_and_appending_goes_on(fake_llm, client, tmp_path):
    fake_llm.add("kept", "new")
    cache = tmp_path / "llm.jsonl"
    client(cache_path=cache).complete(USER)
    with cache.open("a") as file:
        file.write('{"version": 1, "key": "sha256:torn", "request": {"mess')  # killed mid-write
    llm = client(cache_path=cache)
    assert llm.complete(USER).cached
    assert llm.complete(USER, cache_salt="after the tear").text == "new"
    assert client(cache_path=cache).complete(USER, cache_salt="after the tear").cached
    lines = cache.read_text().splitlines()
    assert len(lines) == 3 and lines[1].endswith('{"mess')  # the torn line stays, alone on its line


def test_identical_concurrent_requests_call_the_provider_once(client, tmp_path):
    def slow_answer(messages):
        time.sleep(0.3)
        return "the one answer"

    with FakeLLMServer(slow_answer) as server:
        llm = client(api_base=server.url, cache_path=tmp_path / "llm.jsonl")
        replies = []
        threads = [threading.Thread(target=lambda: replies.append(llm.complete(USER))) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    assert server.calls == 1
    assert [r.text for r in replies] == ["the one answer"] * 8
    assert sum(not r.cached for r in replies) == 1


def test_sigkill_mid_recording_loses_at_most_the_line_in_flight(tmp_path):
    cache = tmp_path / "llm.jsonl"
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys; from tritonsmith.llm.cache import ReplyCache\n"
        "cache = ReplyCache(sys.argv[1])\n"
        "reply = {'text': 'x' * 50_000, 'tokens_in': 1, 'tokens_out': 1, 'cost': None, 'model': 'm'}\n"
        "for i in range(100_000):\n"
        "    cache.append(f'key-{i}', {'i': i}, reply)\n"
        "    print(i, flush=True)\n"), str(cache)], stdout=subprocess.PIPE, text=True)
    for _ in range(20):  # 20 calls reported done
        done = int(writer.stdout.readline())
    writer.send_signal(signal.SIGKILL)
    writer.wait(timeout=10)
    writer.stdout.close()
    loaded = ReplyCache(cache)
    assert len(loaded) >= done + 1 and all(loaded.get(f"key-{i}") for i in range(done + 1))


def test_the_ledger_counts_every_recorded_call_and_the_calls_a_kill_cut_off(fake_llm, client, tmp_path):
    fake_llm.add("one two", Fail(400, "bad"), Fail(500, hang_s=30))
    cache = tmp_path / "llm.jsonl"
    llm = client(cache_path=cache, price_per_mtok=(1.0, 1.0), max_retries=0)
    llm.complete(USER, max_tokens=10)  # answered: 4 tokens in, 2 out
    with pytest.raises(LLMError):
        llm.complete(USER, max_tokens=10, cache_salt="failed")  # failed: not paid for
    killed = subprocess.Popen([sys.executable, "-c", (
        "import sys; from tritonsmith.llm import make_llm\n"
        "make_llm('openai/scripted-model', api_base=sys.argv[1], api_key='k', cache_path=sys.argv[2],\n"
        "         price_per_mtok=(1.0, 1.0)).complete([{'role': 'user', 'content': 'hi'}], max_tokens=10)\n"),
        fake_llm.url, str(cache)])
    deadline = time.monotonic() + 60
    while fake_llm.calls < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    killed.send_signal(signal.SIGKILL)  # while its call hangs
    killed.wait(timeout=10)
    spent = ReplyCache(cache).recorded_spend()
    worst_cut_off = ((len("hi") + 16) + 10) / 1e6  # one token per prompt byte (and framing) plus max_tokens
    assert (spent["calls"], spent["tokens_in"], spent["tokens_out"], spent["interrupted_calls"]) == (2, 4, 2, 1)
    assert spent["usd"] == pytest.approx(6 / 1e6 + worst_cut_off)
