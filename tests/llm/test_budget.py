"""Budgets: each limit raises with its own sentence; everything spent is recorded and restorable."""

from __future__ import annotations

import json
import threading
import time

import pytest

from tritonsmith.llm import Budget, BudgetExceeded, LLMError, Reply


def reply(tokens_in=10, tokens_out=5, cost=0.001, cached=False, model="openai/m") -> Reply:
    return Reply("text", tokens_in, tokens_out, cost, model, cached=cached)


def test_no_limits_never_raises():
    budget = Budget()
    budget.charge(reply(10**9, 10**9, cost=None))
    budget.charge(reply(cost=10**6))
    for _ in range(1000):
        budget.count_round()
    budget.check()
    spent = budget.snapshot()["spent"]
    assert (spent["rounds"], spent["calls"], spent["tokens"], spent["usd"], spent["unpriced_calls"]) == (
        1000, 2, 2 * 10**9 + 15, 10**6, 1)


@pytest.mark.parametrize("limits, spend, message, limit", [
    ({"max_rounds": 2}, lambda b: [b.count_round(), b.count_round()], "round limit reached: 2 of 2", "rounds"),
    ({"max_tokens": 1000}, lambda b: b.charge(reply(600, 500)), "token limit reached: 1,100 of 1,000", "tokens"),
    ({"max_usd": 0.01}, lambda b: b.charge(reply(cost=0.02)), r"dollar limit reached: \$0.0200 of \$0.01", "usd"),
    ({"max_wall_s": 0.05}, lambda b: time.sleep(0.06), r"wall-time limit reached: 0\.\d s of 0.05 s", "wall_s"),
])
def test_each_limit_raises_its_sentence(limits, spend, message, limit):
    budget = Budget(**limits)
    budget.check()
    spend(budget)
    with pytest.raises(BudgetExceeded, match=message) as exceeded:
        budget.check()
    assert exceeded.value.limit == limit
    assert isinstance(exceeded.value, LLMError)


def test_just_under_the_limits_passes():
    budget = Budget(max_rounds=2, max_tokens=100, max_usd=1.0, max_wall_s=60)
    budget.count_round()
    budget.charge(reply(50, 49, cost=0.5))
    budget.check()
    assert budget.snapshot()["spent"]["tokens"] == 99
    budget.charge(reply(1, 0, cost=0.0))  # exactly at the token limit: reached
    with pytest.raises(BudgetExceeded, match="token limit reached: 100 of 100"):
        budget.check()


def test_cached_replies_cost_nothing_but_are_counted():
    budget = Budget(max_tokens=10)
    budget.charge(reply(1000, 1000, cost=5.0, cached=True))
    budget.check()
    spent = budget.snapshot()["spent"]
    assert (spent["cached_calls"], spent["calls"], spent["tokens"], spent["usd"]) == (1, 0, 0, 0.0)


def test_unknown_price_with_a_dollar_limit_is_a_clear_error():
    budget = Budget(max_usd=1.0)
    budget.charge(reply(cost=None, model="openai/local-coder"))
    wanted = r"price of openai/local-coder is unknown: give it in USD per million input and output tokens \(--price"
    with pytest.raises(LLMError, match=wanted) as error:
        budget.check()
    assert not isinstance(error.value, BudgetExceeded)
    assert budget.snapshot()["spent"]["unpriced_calls"] == 1


def test_snapshot_round_trip_goes_on_from_where_it_was():
    budget = Budget(max_rounds=5, max_tokens=10_000, max_usd=2.0, max_wall_s=3600)
    budget.count_round()
    budget.charge(reply(100, 50, cost=0.25))
    budget.charge(reply(cost=None, model="openai/free"))
    snapshot = json.loads(json.dumps(budget.snapshot()))  # it is plain data
    restored = Budget.from_snapshot(snapshot)
    spent = restored.snapshot()["spent"]
    assert restored.snapshot()["limits"] == snapshot["limits"]
    assert (spent["rounds"], spent["calls"], spent["tokens_in"], spent["tokens_out"]) == (1, 2, 110, 55)
    assert spent["usd"] == pytest.approx(0.25) and spent["unpriced_models"] == ["openai/free"]
    assert spent["wall_s"] >= snapshot["spent"]["wall_s"]


def test_concurrent_charges_add_up():
    budget = Budget()

    def spend():
        for _ in range(1000):
            budget.charge(reply(3, 2, cost=0.5))
            budget.count_round()

    threads = [threading.Thread(target=spend) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    spent = budget.snapshot()["spent"]
    assert (spent["calls"], spent["rounds"], spent["tokens"], spent["usd"]) == (8000, 8000, 40_000, 4000.0)


def test_calls_in_flight_together_never_take_the_spend_past_the_dollar_limit():
    budget = Budget(max_usd=1.0)
    budget.reserve(0.4)
    budget.reserve(0.4)  # two calls in flight: at most $0.80
    with pytest.raises(BudgetExceeded, match=r"\$0.0000 spent \(\+\$0.8000 in flight\), and the next call could "
                                             r"cost up to \$0.4000, which the limit of \$1.00 does not leave"):
        budget.reserve(0.4)
    budget.charge(reply(cost=0.1), reserved_usd=0.4)  # one answered, cheaper than its worst case
    budget.release(0.4)  # the other failed
    budget.reserve(0.9)  # $0.10 spent: $0.90 more may be risked
    assert budget.snapshot()["spent"]["usd"] == pytest.approx(0.1)


def test_a_dollar_limit_with_an_unknown_price_is_refused_before_the_first_call():
    budget = Budget(max_usd=1.0)
    with pytest.raises(LLMError, match="price of openai/local-coder is unknown") as error:
        budget.reserve(None, "openai/local-coder")
    assert not isinstance(error.value, BudgetExceeded)
    Budget().reserve(None)  # no dollar limit: nothing to enforce


def test_spending_restored_from_the_ledger_wins_over_an_older_snapshot():
    budget = Budget.from_snapshot(Budget(max_usd=5.0).snapshot())
    budget.restore_spending({"calls": 3, "tokens_in": 30, "tokens_out": 12, "usd": 0.5, "unpriced_calls": 0,
                             "unpriced_models": [], "interrupted_calls": 1})
    spent = budget.snapshot()["spent"]
    assert (spent["calls"], spent["tokens"], spent["usd"], spent["interrupted_calls"]) == (3, 42, 0.5, 1)
