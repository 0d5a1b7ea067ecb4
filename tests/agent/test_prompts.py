"""What the Optimizer is told about measurements: times, speedups, and which roof binds."""

from __future__ import annotations

from tritonsmith.agent.prompts import performance_report, roofline_verdict
from tritonsmith.evaluate.result import EvalResult, PerfResult


def test_the_binding_roof_and_the_headroom_are_stated():
    assert roofline_verdict(0.85, 0.01) == "memory-bound: at 85% of the bandwidth roof, 15% headroom"
    assert roofline_verdict(0.12, 0.45) == "compute-bound: at 45% of the compute roof, 55% headroom"
    assert roofline_verdict(None, None) == ""
    assert roofline_verdict(None, 0.3).startswith("compute-bound")


def test_performance_report_lists_every_perf_case():
    result = EvalResult("passed", True, True, speedup=1.25, perf=[
        PerfResult(0, "shape=[4096, 4096] dtype=float16", 0.2, baseline_ms=0.25, reference_ms=0.3, speedup=1.25,
                   gbps=2800.0, tflops=1.0, bandwidth_fraction=0.84, compute_fraction=0.001)])
    text = performance_report(result)
    assert "200.0 us" in text and "baseline 250.0 us (speedup 1.25x)" in text and "PyTorch 300.0 us" in text
    assert "memory-bound: at 84% of the bandwidth roof" in text and "1.250x (geometric mean)" in text
    assert "not timed" in performance_report(EvalResult("passed", True, True, speedup_reason="no GPU"))


def test_measured_peaks_are_the_roof_when_the_device_has_them():
    result = EvalResult("passed", True, True, speedup=1.0, perf=[
        PerfResult(0, "n=1048576 dtype=float32", 0.01, baseline_ms=0.01, speedup=1.0, gbps=2700.0, tflops=0.1,
                   bandwidth_fraction=0.806, compute_fraction=0.0015, measured_bandwidth_fraction=0.9,
                   measured_compute_fraction=0.002)])
    text = performance_report(result)
    assert "2700 GB/s = 90% of this GPU's measured copy bandwidth (81% of the datasheet peak)" in text
    assert "memory-bound: at 90% of the measured bandwidth roof, 10% headroom" in text
    # an int8 matmul: no measured int8 peak, so its compute roof is the datasheet's, and it binds
    int8 = PerfResult(0, "int8", 0.5, gbps=300.0, tflops=900.0, bandwidth_fraction=0.09, compute_fraction=0.45,
                      measured_bandwidth_fraction=0.1)
    assert "compute-bound: at 45% of the datasheet compute roof" in performance_report(
        EvalResult("passed", True, True, perf=[int8]))


def test_the_prompts_say_where_the_kernel_is_checked_and_how_it_is_timed():
    from tritonsmith.agent.context import stack_versions
    from tritonsmith.agent.prompts import Context, environment, generation, optimization, reflection
    from tritonsmith.suites import resolve_task

    versions = stack_versions()
    assert versions.startswith("torch 2.") and ", Triton " in versions
    task = resolve_task("vector_add")
    cpu = Context(task, "## Task: vector_add", environment=environment(None, versions))
    text = generation(cpu)[1]["content"]
    assert f"Triton's interpreter (TRITON_INTERPRET=1, {versions})" in text and "Nothing is timed" in text
    assert "has no .to()" in text and "combined with a block mask" in text
    gpu = environment("NVIDIA H100 80GB HBM3", versions)
    assert "on NVIDIA H100 80GB HBM3" in gpu and "do_bench" in gpu and "launch overhead" in gpu
    failed = EvalResult("wrong_output", True, False, message="max abs err 1.0")
    assert "Nothing is timed" in reflection(cpu, "src", failed)[1]["content"]
    assert "which are your guesses" in reflection(cpu, "src", failed)[1]["content"]
    assert "Nothing is timed" in optimization(cpu, "src", failed)[1]["content"]


def test_the_rule_on_inputs_follows_the_tasks_contract():
    import dataclasses

    from tritonsmith.agent.prompts import Context, generation
    from tritonsmith.suites import resolve_task

    own = resolve_task("vector_add")
    external = dataclasses.replace(own, harness="def vector_add(x, y): ...")
    in_place = dataclasses.replace(external, in_place=True)
    rules = [generation(Context(task, "## Task"))[0]["content"] for task in (own, external, in_place)]
    assert "never modify the inputs in place" in rules[0]
    assert "never modify" not in rules[1] and "exactly where the reference or its test does" in rules[1]
    assert "never modify" not in rules[2] and "updates some of its arguments in place" in rules[2]


def test_the_reflectors_reading_reaches_the_next_generation_as_unverified(scripted, tmp_path):
    from tritonsmith.agent.session import solve_task
    from tritonsmith.agent.store import RunStore
    from tritonsmith.suites import resolve_task

    from .conftest import GOOD, WRONG, fenced, run_config

    server, _ = scripted([fenced(WRONG), fenced(GOOD)])
    solve_task(resolve_task("vector_add"), run_config(server), tmp_path, quiet=True)
    second = [e for e in RunStore(tmp_path).trajectory() if e["type"] == "generate"][1]["messages"][1]["content"]
    assert "a reviewer's reading of the error above, not verified" in second and "PLAN-1" in second
