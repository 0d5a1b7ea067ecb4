"""Measured peaks: the cache, the fractions, and a clear error where there is no GPU to measure."""

from __future__ import annotations

import json

import pytest

from tritonsmith.evaluate import peaks
from tritonsmith.evaluate.peaks import PeaksError, cache_path, fractions, load_cached, peaks_for

H100 = "NVIDIA H100 80GB HBM3"
PEAKS = {"device": H100, "copy_gbps": 3000.0, "tflops": {"bfloat16": 750.0, "float32": 50.0},
         "measured_at": "2026-11-26T00:00:00+00:00"}


@pytest.fixture(autouse=True)
def cache_home(tmp_path, monkeypatch):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path))
    monkeypatch.setattr(peaks, "_failed", {})
    return tmp_path


def plant(data, name=H100):
    path = cache_path(name)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(data))
    return path


def test_a_cached_measurement_is_used_without_measuring_again(cache_home):
    path = plant(PEAKS)
    assert path.parent == cache_home / "tritonsmith" / "peaks" and path.name == "nvidia-h100-80gb-hbm3.json"
    assert peaks_for(H100) == PEAKS  # no GPU here: measuring would raise


@pytest.mark.parametrize("bad", [
    {**PEAKS, "device": "NVIDIA A100-SXM4-80GB"},  # another device's file under this name
    {**PEAKS, "copy_gbps": 0},
    {**PEAKS, "copy_gbps": 9000.0},  # implausible for an H100 (3,350 GB/s on the datasheet): planted, not measured
    {**PEAKS, "tflops": "fast"},
    "not a dict",
])
def test_a_cache_entry_that_does_not_hold_up_is_ignored(bad):
    plant(bad)
    assert load_cached(H100) is None


def test_an_implausible_matmul_figure_is_dropped_alone():
    # e.g. ROCm runs "tf32" as plain fp32 unless told otherwise: that figure goes, the rest stays
    plant({**PEAKS, "tflops": {"bfloat16": 750.0, "tf32": 60.0, "float16": "fast"}})
    loaded = load_cached(H100)
    assert loaded["copy_gbps"] == 3000.0 and loaded["tflops"] == {"bfloat16": 750.0}
    assert loaded["tflops_dropped"] == {"tf32": 60.0, "float16": "fast"}


def test_measuring_without_a_gpu_says_so_in_one_sentence():
    with pytest.raises(PeaksError, match="peaks are measured on a GPU, and PyTorch sees none"):
        peaks_for(H100, refresh=True)
    assert not cache_path(H100).exists()  # nothing cached from a failed measurement
    assert "sees none" in peaks._failed[H100]  # remembered: the next pool does not measure again
    with pytest.raises(PeaksError, match="sees none"):
        peaks_for(H100)
    plant(PEAKS)
    assert peaks_for(H100) == PEAKS  # a good cache still wins


def test_a_cache_that_cannot_be_written_costs_only_a_measurement(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    peaks._store(blocker / "peaks" / "x.json", PEAKS)  # its folder cannot be made: no error
    target = tmp_path / "ok" / "x.json"
    peaks._store(target, PEAKS)
    assert json.loads(target.read_text()) == PEAKS and [p.name for p in target.parent.iterdir()] == ["x.json"]


def test_fractions_of_the_measured_peaks():
    assert fractions(2700.0, 375.0, "bfloat16", PEAKS) == (0.9, 0.5)
    assert fractions(2700.0, 900.0, "int8", PEAKS) == (0.9, None)  # no int8 peak measured
    assert fractions(None, 10.0, "float32", PEAKS) == (None, 0.2)
    assert fractions(2700.0, 1.0, "float32", None) == (None, None)


def test_the_summary_states_both_fractions():
    from tritonsmith.evaluate.result import EvalResult, PerfResult
    result = EvalResult("passed", True, True, perf=[PerfResult(0, "n=4096", 0.01, gbps=2700.0,
                                                                bandwidth_fraction=0.806, measured_bandwidth_fraction=0.9)])
    assert "2700 GB/s (90% of measured peak, 81% of datasheet peak)" in result.summary()


def test_the_caller_computes_the_roofline_fractions_from_its_own_peaks():
    from tritonsmith.evaluate.job_result import add_roofline
    from tritonsmith.evaluate.result import EvalResult, PerfResult
    from tritonsmith.suites import resolve_task
    task = resolve_task("matmul")
    dtypes = [case["dtype"] for case in task.perf_cases]
    perf = [PerfResult(i, "case", 1.0, gbps=1500.0, tflops=0.5 * PEAKS["tflops"].get(d, 1.0))
            for i, d in enumerate(dtypes)]
    result = EvalResult("passed", True, True, perf=perf, evidence={"device": H100})
    add_roofline(result, task, PEAKS)
    for p, dtype in zip(result.perf, dtypes, strict=True):
        assert p.measured_bandwidth_fraction == pytest.approx(0.5)
        assert p.measured_compute_fraction == (pytest.approx(0.5) if dtype in PEAKS["tflops"] else None)
        assert p.bandwidth_fraction == pytest.approx(1500 / 3350)  # the H100 datasheet
        assert p.compute_fraction == pytest.approx(p.tflops / 989.4)
    assert result.measured_bandwidth_fraction == pytest.approx(0.5)
    assert result.bandwidth_fraction == pytest.approx(1500 / 3350) and "roofline" not in result.evidence
    add_roofline(result, task, None)  # no peaks measured: nothing claimed
    assert result.measured_bandwidth_fraction is None and all(p.measured_compute_fraction is None for p in result.perf)
    result.evidence["device"] = "Some Future GPU"  # no profile: no datasheet fractions, and the reason
    add_roofline(result, task, None)
    assert result.bandwidth_fraction is None and all(p.compute_fraction is None for p in result.perf)
    assert result.evidence["roofline"] == "no hardware profile matches 'Some Future GPU'"
