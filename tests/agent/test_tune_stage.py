"""The agent's last stage: the winner's launch parameters are tuned (timings scripted: no GPU here)."""

from __future__ import annotations

from tritonsmith.agent.config import RunConfig
from tritonsmith.agent.store import RunStore
from tritonsmith.agent.winner import tune_winner
from tritonsmith.suites import resolve_task

TASK = resolve_task("vector_add")


def scripted_measure(cpu_pool):
    """Real CPU evaluation decides the status; the time is scripted: bigger blocks are faster."""
    class Measure:
        results = {}

        def __call__(self, source, limit_s=None):
            result = cpu_pool.evaluate(TASK, source)
            self.results[source] = result
            block = 2048 if "BLOCK = 2048" in source else 4096 if "BLOCK = 4096" in source else 1024
            return result.status, (None if not result.passed else 1000.0 / block)
    return Measure()


def test_the_winner_is_tuned_and_saved(cpu_pool, tmp_path):
    store = RunStore(tmp_path)
    config = RunConfig(model="m", device="cpu", tune_budget_s=3600)
    record, evaluated = tune_winner(TASK, TASK.baseline, config, store, measure=scripted_measure(cpu_pool))
    assert record["tuned"] and record["speedup_from_tuning"] > 1 and record["trials"] >= 2
    assert evaluated is not None and evaluated["status"] == "passed"
    assert "BLOCK = 1024" not in store.candidate_source("tuned")
    assert [e["type"] for e in store.trajectory()] == ["tune"]


def test_a_failing_tuner_keeps_the_untuned_winner(tmp_path):
    def broken(source, limit_s=None):
        raise RuntimeError("the device went away")
    record, evaluated = tune_winner(TASK, TASK.baseline, RunConfig(model="m", device="cpu"), RunStore(tmp_path),
                                    measure=broken)
    assert not record["tuned"] and "the device went away" in record["reason"] and evaluated is None


def test_a_tuned_kernel_that_fails_its_final_evaluation_is_not_used(cpu_pool, tmp_path):
    # wrong for BLOCK > 1024: each program writes only the first 1024 elements of its block
    fragile = TASK.baseline.replace("mask = offsets < n", "mask = (offsets < n) & (tl.arange(0, BLOCK) < 1024)")
    assert fragile != TASK.baseline and cpu_pool.evaluate(TASK, fragile).passed

    def flattering(source, limit_s=None):  # a search whose short checks call every configuration fine, bigger blocks faster
        block = 2048 if "BLOCK = 2048" in source else 4096 if "BLOCK = 4096" in source else 1024
        return "passed", 1000.0 / block

    store = RunStore(tmp_path)
    config = RunConfig(model="m", device="cpu", tune_budget_s=3600)
    untuned = {"status": "passed", "speedup": 1.0}
    record, evaluated = tune_winner(TASK, fragile, config, store, untuned, measure=flattering, pool=cpu_pool)
    assert record["search_speedup"] > 1 and not record["tuned"] and evaluated is None
    assert "failed its final evaluation (wrong_output)" in record["reason"]
    assert record["speedup_from_tuning"] is None and record["speedup_before_tuning"] == 1.0
    assert [e["type"] for e in store.trajectory()] == ["final_measure", "tune"]
    assert not (tmp_path / "candidates" / "tuned.py").exists()  # best.py stays the untuned winner


def test_the_tuned_kernel_is_judged_on_the_same_yardstick_as_the_winner():
    from tritonsmith.agent.winner import _tuning_verdict
    passed = {"status": "passed"}
    verdict = _tuning_verdict({**passed, "speedup": 1.5, "speedup_vs_torch": 3.0}, {"speedup": 1.2}, 1.4, measured=True)
    assert verdict["tuned"] and verdict["speedup_from_tuning"] == 1.25 and "(speedup)" in verdict["speedup_basis"]
    # the tuned kernel's worker lost its baseline: vs PyTorch for both, never vs baseline against vs PyTorch
    verdict = _tuning_verdict({**passed, "speedup_vs_torch": 3.0}, {"speedup": 1.2, "speedup_vs_torch": 2.4}, 1.4,
                              measured=True)
    assert verdict["tuned"] and verdict["speedup_from_tuning"] == 1.25
    assert not _tuning_verdict({**passed, "speedup_vs_torch": 3.0}, {"speedup": 1.2}, 1.4, measured=True)["tuned"]
    slower = _tuning_verdict({**passed, "speedup": 1.19}, {"speedup": 1.2}, 1.4, measured=True)
    assert not slower["tuned"] and "not faster (1.190x vs 1.200x)" in slower["reason"]
    broken = _tuning_verdict({"status": "not evaluated: DeviceError: gone"}, {"speedup": 1.2}, 1.4, measured=True)
    assert not broken["tuned"] and "failed its final evaluation (not evaluated: DeviceError: gone)" in broken["reason"]
