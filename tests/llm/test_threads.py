"""K lineages calling one client from threads: every call answered once, counts consistent."""

from __future__ import annotations

import threading

from fakellm import FakeLLMServer

from tritonsmith.llm import Budget


def test_eight_threads_thirty_two_calls(client, tmp_path):
    with FakeLLMServer(lambda messages: "answer to " + messages[-1]["content"]) as server:
        llm = client(api_base=server.url, cache_path=tmp_path / "llm.jsonl", price_per_mtok=(1.0, 1.0))
        budget = Budget()
        replies = {}

        def lineage(index: int):
            for step in range(4):
                prompt = f"lineage {index} step {step}"
                reply = llm.complete([{"role": "user", "content": prompt}], cache_salt=index)
                budget.charge(reply)
                replies[prompt] = reply

        threads = [threading.Thread(target=lineage, args=(i,)) for i in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    assert server.calls == 32 and len(replies) == 32
    assert all(reply.text == f"answer to {prompt}" for prompt, reply in replies.items())
    spent = budget.snapshot()["spent"]
    assert spent["calls"] == 32 and spent["tokens_in"] == 32 * 4 and spent["tokens_out"] == 32 * 6
    assert spent["usd"] == sum(r.cost for r in replies.values())
    assert len((tmp_path / "llm.jsonl").read_text().splitlines()) == 32
    assert len(llm.cache) == 32
