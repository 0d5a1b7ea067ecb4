"""The LiteLLM client against a real HTTP server on loopback: replies, tokens, cost, retries, errors."""

from __future__ import annotations

import http.server
import threading
import time

import pytest
from fakellm import Fail, Garbage, Trickle

from tritonsmith.llm import LLM, LLMError, make_llm
from tritonsmith.llm.client import _litellm

from .conftest import assert_one_sentence

USER = [{"role": "user", "content": "write a softmax kernel"}]


def test_reply_text_tokens_and_request(fake_llm, client):
    fake_llm.add("here is the kernel")
    llm = client()
    assert isinstance(llm, LLM)
    reply = llm.complete(USER, temperature=0.2, max_tokens=64, seed=7, cache_salt="lineage-3")
    assert reply.text == "here is the kernel"
    assert (reply.tokens_in, reply.tokens_out) == (4, 4)  # the fake server counts words
    assert reply.model == "openai/scripted-model" and not reply.cached
    assert reply.finish_reason == "stop" and reply.latency_s > 0
    sent = fake_llm.requests[0]
    assert sent.body["messages"] == USER and sent.body["model"] == "scripted-model"
    assert sent.body["temperature"] == 0.2 and sent.body["seed"] == 7 and sent.body["max_tokens"] == 64
    assert "cache_salt" not in sent.body  # the salt is for the cache key only
    assert sent.headers["authorization"] == "Bearer dummy-key-for-tests"


def test_cost_unknown_model_is_none_not_zero(fake_llm, client):
    fake_llm.add("a b")
    assert client().complete(USER).cost is None


def test_cost_from_price_per_mtok(fake_llm, client):
    fake_llm.add("one two three four five six")
    reply = client(price_per_mtok=(3.0, 15.0)).complete(USER)
    assert reply.cost == pytest.approx((4 * 3.0 + 6 * 15.0) / 1e6)


def test_cost_from_litellm_price_map(fake_llm, client):
    fake_llm.add("one two")
    reply = client("openai/gpt-4o-mini").complete(USER)
    info = _litellm().get_model_info("openai/gpt-4o-mini")
    assert reply.cost == pytest.approx(4 * info["input_cost_per_token"] + 2 * info["output_cost_per_token"])
    assert reply.cost > 0


def test_local_server_without_key_gets_placeholder(fake_llm, client, monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    fake_llm.add("ok")
    assert client(api_key=None).complete(USER).text == "ok"
    assert fake_llm.requests[0].headers["authorization"] == "Bearer EMPTY"


def test_retries_after_429_and_500_then_succeeds(fake_llm, client):
    fake_llm.add(Fail(429, "slow down"), Fail(500), Fail(503), "finally")
    assert client(max_retries=3).complete(USER).text == "finally"
    assert fake_llm.calls == 4


def test_retries_after_a_hang_past_the_timeout(fake_llm, client):
    fake_llm.add(Fail(500, hang_s=20), "after the hang")
    started = time.monotonic()
    assert client(timeout_s=0.5, max_retries=1).complete(USER).text == "after the hang"
    # not waited out: well under the 20 s hang, with room for a loaded 2-core CI machine
    assert fake_llm.calls == 2 and time.monotonic() - started < 12


def test_exhausted_retries_raise_one_sentence(fake_llm, client):
    fake_llm.fail_next(3, status=500)
    with pytest.raises(LLMError) as error:
        client(max_retries=2).complete(USER)
    assert fake_llm.calls == 3
    assert_one_sentence(str(error.value))
    assert "HTTP 500" in str(error.value) and "after 3 attempts" in str(error.value)
    assert fake_llm.url in str(error.value) and "openai/scripted-model" in str(error.value)
    assert error.value.__suppress_context__  # no chained LiteLLM traceback


def test_exhausted_rate_limit(fake_llm, client):
    fake_llm.fail_next(2, status=429)
    with pytest.raises(LLMError, match=r"rate limited \(HTTP 429\) after 2 attempts"):
        client(max_retries=1).complete(USER)


def test_exhausted_timeouts(fake_llm, client):
    fake_llm.fail_next(2, hang_s=5)
    with pytest.raises(LLMError, match=r"did not answer within 0.3 s \(2 attempts\)") as error:
        client(timeout_s=0.3, max_retries=1).complete(USER)
    assert_one_sentence(str(error.value))


@pytest.mark.parametrize("status", [400, 401, 404])
def test_no_retry_on_auth_or_bad_request(fake_llm, client, status):
    fake_llm.add(Fail(status, "no such thing"), "never reached")
    with pytest.raises(LLMError) as error:
        client().complete(USER)
    assert fake_llm.calls == 1
    assert_one_sentence(str(error.value))
    expected = {400: "rejected the request (HTTP 400): no such thing",
                401: "rejected the API key (HTTP 401): check OPENAI_API_KEY",
                404: "was not found at"}[status]
    assert expected in str(error.value)


def test_a_web_server_that_is_not_an_llm_server_is_said_at_once_not_retried():
    """A plain web server at api_base answers a POST with HTTP 501: a wrong api_base, not a provider that is down."""
    posts = []

    class Files(http.server.SimpleHTTPRequestHandler):
        def do_POST(self):
            posts.append(self.path)
            self.send_error(501, "Unsupported method ('POST')")  # what http.server answers a POST with

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Files)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        base = f"http://127.0.0.1:{server.server_address[1]}/v1"
        with pytest.raises(LLMError) as error:
            make_llm("openai/scripted-model", api_base=base, api_key="x", max_retries=3, timeout_s=5).complete(USER)
    finally:
        server.shutdown()
    assert len(posts) == 1
    assert_one_sentence(str(error.value))
    assert str(error.value) == (f"openai/scripted-model at {base} does not serve chat completions (HTTP 501): check "
                                "that it is an OpenAI-compatible server and that api_base ends in /v1.")


def test_a_server_that_trickles_is_timed_out_as_a_whole(fake_llm, client):
    fake_llm.add(Trickle(interval_s=0.5), "on time")  # each read within the timeout, the reply never in time
    started = time.monotonic()
    assert client(timeout_s=2, max_retries=1).complete(USER).text == "on time"
    assert fake_llm.calls == 2 and time.monotonic() - started < 6
    fake_llm.add(Trickle(interval_s=0.5))
    with pytest.raises(LLMError, match=r"did not answer within 1 s \(1 attempt\)") as error:
        client(timeout_s=1, max_retries=0).complete(USER)
    assert_one_sentence(str(error.value))


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_refused_local_connection_fails_at_once(closed_port, host):
    llm = make_llm("openai/scripted-model", api_base=f"http://{host}:{closed_port}/v1", api_key="x", timeout_s=5)
    _litellm()  # the one-off import is not what is timed
    started = time.monotonic()
    with pytest.raises(LLMError) as error:
        llm.complete(USER)  # default retries: 5, from 1 s doubling (about 30 s if they were made)
    assert time.monotonic() - started < 3
    message = str(error.value)
    assert_one_sentence(message)
    assert message == (f"Could not reach openai/scripted-model at http://{host}:{closed_port}/v1: nothing is listening "
                       "there (connection refused): start the server, or check api_base.")


def test_missing_key_for_hosted_provider_names_the_variable(monkeypatch):
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    llm = make_llm("openai/gpt-4o-mini", mode="off", max_retries=0, timeout_s=2)
    _litellm()
    started = time.monotonic()
    with pytest.raises(LLMError) as error:
        llm.complete(USER)
    assert time.monotonic() - started < 1  # refused before any network attempt
    assert_one_sentence(str(error.value))
    assert "OPENAI_API_KEY" in str(error.value) and "openai/gpt-4o-mini" in str(error.value)


def test_model_without_a_provider_is_one_sentence():
    with pytest.raises(LLMError, match="cannot tell which provider") as error:
        make_llm("surely-not-a-model-name", mode="off").complete(USER)
    assert_one_sentence(str(error.value))


def test_bad_arguments_fail_loudly(tmp_path):
    with pytest.raises(ValueError, match="mode must be one of"):
        make_llm("openai/x", mode="recrod")
    with pytest.raises(ValueError, match="needs a cache_path"):
        make_llm("openai/x", mode="replay")
    with pytest.raises(LLMError, match="Nothing to replay"):
        make_llm("openai/x", mode="replay", cache_path=tmp_path / "missing.jsonl")


def test_a_200_that_is_not_a_completion_is_said_as_such_not_as_http_500(fake_llm, client):
    fake_llm.add(Garbage(), Garbage(b'{"id": "x"}'), Garbage(), "fine")
    for what in ("a body that is not JSON", "JSON without 'choices'"):
        with pytest.raises(LLMError) as error:
            client(max_retries=0).complete(USER)
        message = str(error.value)
        assert_one_sentence(message)
        assert "HTTP 500" not in message and message.startswith(
            f"openai/scripted-model at {fake_llm.url} answered with something that is not a chat completion "
            f"({what}) after 1 attempt")
    assert client(max_retries=1).complete(USER).text == "fine"  # retried: a proxy's error page may pass
