"""The HTML report of a bench folder: static checks, and a real headless Chromium opening the file."""

from __future__ import annotations

import base64
import gzip
import json
import re
import shutil
from pathlib import Path

import pytest

from tritonsmith.evaluate.result import CaseResult, EvalResult, PerfResult
from tritonsmith.report.html import write_report
from tritonsmith.runs.bench import tuning_outcome
from tritonsmith.runs.records import LineageOutcome, RoundPoint, TaskRecord
from tritonsmith.runs.store import ResultsStore

HOSTILE = "</script><b>x"
TASK_TEXT = ("## Task: {name}\nWrite {name} in Triton: out[i, :] = softmax(x[i, :]) over the last dimension.\n\n"
             "Entry point (keep this exact signature):\n    def {name}(x: torch.Tensor) -> torch.Tensor\n\n"
             "## PyTorch reference (how inputs are made and what must be computed)\n```python\n"
             "def make_inputs(M, N, dtype, seed):\n    g = torch.Generator().manual_seed(seed)\n"
             "    return (torch.randn(M, N, generator=g).to(dtype),)\n\n\ndef reference(x):\n"
             "    return torch.softmax(x.float(), dim=-1).to(x.dtype)\n```\n\n"
             "Checked on shapes such as (M=1, N=1, float32), (M=37, N=1000, float16); timed on (M=4096, N=4096, float16).")
GUIDE = "## Triton guide (relevant sections)\n" + "\n".join(
    f"- rule {i}: mask every load with offs < N and use other=-inf for a max (a < b && c > d)" for i in range(60))

FIRST = '''import torch
import triton
import triton.language as tl


@triton.jit
def softmax_kernel(x_ptr, out_ptr, N, BLOCK: tl.constexpr):
    row = tl.program_id(0)
    offs = tl.arange(0, BLOCK)
    x = tl.load(x_ptr + row * N + offs, mask=offs < N, other=float("-inf"))
    x = x - tl.max(x, axis=0)
    e = tl.exp(x)
    tl.store(out_ptr + row * N + offs, e / tl.sum(e, axis=0), mask=offs < N)


def softmax(x):
    out = torch.empty_like(x)
    softmax_kernel[(x.shape[0],)](x, out, x.shape[1], BLOCK=triton.next_power_of_2(x.shape[1]))
    return out
'''
# the second candidate carries a string that would break out of a <script> if it were not escaped
SECOND = FIRST.replace("    row = tl.program_id(0)\n", f"    row = tl.program_id(0)  # {HOSTILE} & done\n").replace(
    "e / tl.sum(e, axis=0)", "(e / tl.sum(e, axis=0)).to(out_ptr.dtype.element_ty)")


def messages(name: str, previous: str | None = None, feedback: str | None = None) -> list[dict]:
    parts = [TASK_TEXT.format(name=name), GUIDE]
    if previous:
        parts.append(f"## Your previous kernel\n```python\n{previous}```")
    if feedback:
        parts.append(f"## Feedback on it\n{feedback}")
    parts.append("Write the kernel. Reply with one ```python block holding the whole module.")
    return [{"role": "system", "content": "You are an expert GPU kernel engineer. Mask every load & store."},
            {"role": "user", "content": "\n\n".join(parts)}]


def llm_event(kind: str, lineage: int, round_index: int, reply: str, **extra) -> dict:
    return {"type": kind, "lineage": lineage, "round": round_index, "messages": extra.pop("messages", None)
            or [{"role": "system", "content": "You are an expert Triton kernel debugger."},
                {"role": "user", "content": "## Candidate kernel\n..."}],
            "reply": reply, "tokens_in": 3120, "tokens_out": 410, "cost": 0.0123, "cached": False,
            "latency_s": 4.2, **extra}


def wrong_output() -> dict:
    case = CaseResult(1, "M=37, N=1000, float16", 1, False, message="max abs error 0.031 > atol 0.01 at [3, 999]",
                      max_abs_err=0.031, max_rel_err=0.5, first_bad_index=[3, 999], mismatched=37, elements=37000)
    return EvalResult("wrong_output", True, False, message="output 0 differs from the reference on case 1 seed 1",
                      cases=[CaseResult(0, "M=1, N=1, float32", 0, True), case],
                      evidence={"device": "NVIDIA H100 80GB HBM3", "timer": "do_bench"}, wall_s=3.1).to_dict()


def passed(speedup: float) -> dict:
    perf = [PerfResult(0, "M=4096, N=4096, float16", 0.0412, baseline_ms=0.0412 * speedup, reference_ms=0.061,
                       speedup=speedup, speedup_vs_torch=0.061 / 0.0412, gbps=1628.0, bandwidth_fraction=0.49,
                       measured_bandwidth_fraction=0.54),
            PerfResult(1, "M=8192, N=1000, float16", 1.25, baseline_ms=1.25 * speedup, reference_ms=1.4,
                       speedup=speedup, speedup_vs_torch=1.12, gbps=1700.0, bandwidth_fraction=0.51)]
    return EvalResult("passed", True, True, cases=[CaseResult(i, f"case {i}", 0, True) for i in range(6)], perf=perf,
                      speedup=speedup, speedup_vs_torch=1.3, evidence={"device": "NVIDIA H100 80GB HBM3"},
                      wall_s=8.7).to_dict()


def agent_trajectory(name: str, start: bool = False) -> list[dict]:
    first_fix = "The store writes fp32 into an fp16 output.\n1. Cast the result to the output's element type."
    optimize_mode = [{"type": "evaluate", "lineage": None, "round": None, "candidate": "start", "source": FIRST,
                      "result": passed(1.0)}] if start else []
    return optimize_mode + [
        llm_event("generate", 0, 0, f"Here is the kernel:\n```python\n{FIRST}```", messages=messages(name)),
        {"type": "evaluate", "lineage": 0, "round": 0, "candidate": "L0-R0", "source": FIRST, "result": wrong_output()},
        llm_event("reflect", 0, 0, first_fix),
        llm_event("generate", 1, 0, "I could not decide.", messages=messages(name)),
        {"type": "format_error", "lineage": 1, "round": 0, "message": "the reply has no ```python block"},
        llm_event("generate", 0, 1, f"Fixed:\n```python\n{SECOND}```",
                  messages=messages(name, FIRST, "FAILED (wrong_output).\n" + first_fix)),
        {"type": "evaluate", "lineage": 0, "round": 1, "candidate": "L0-R1", "source": SECOND, "result": passed(1.42)},
        llm_event("optimize", 0, 1, "Memory-bound at 49% of peak bandwidth.\n1. Process two rows per program."),
        {"type": "trap", "lineage": 1, "round": 0, "restart_from": "L0-R1"},
    ]


TUNE_APPLIED = {"tuned": True, "config": {"softmax_kernel.BLOCK": "2048", "softmax_kernel.num_warps": "8"},
                "original_ms": 0.0486, "tuned_ms": 0.0412, "speedup_from_tuning": 1.18, "stop_reason": "budget spent",
                "elapsed_s": 41.3, "trials": 14}
TUNE_KEPT = {"tuned": False, "config": {}, "original_ms": 0.05, "tuned_ms": 0.05, "speedup_from_tuning": 1.0,
             "stop_reason": "search done; no configuration beat the original by 1%", "elapsed_s": 12.0, "trials": 6}
# speedup before tuning, after tuning, and the tuner's record, of each task
SPEEDUPS = {"softmax": (1.2, 1.42, TUNE_APPLIED), "layernorm": (0.81, 0.81, TUNE_KEPT), "matmul": (None, None, None)}


def write_bench(folder: Path, tuned: bool = True) -> Path:
    store = ResultsStore(folder)
    store.save_settings({"suite": "builtin", "solver": "agent", "model": "openai/gpt-4o", "mode": "generate",
                         "rounds": 2, "parallel": 2, "device": "auto", "created_at": "2025-05-04T10:11:12+00:00"})
    points = [RoundPoint(0, True, False), RoundPoint(1, True, True, 1.42)]
    lineages = [LineageOutcome(0, True, True, 1.42, points), LineageOutcome(1, False, False, None, [
        RoundPoint(0, False, False), RoundPoint(1, False, False)])]
    for name, status, speedup in (("softmax", "passed", 1.42), ("layernorm", "passed", 0.81),
                                  ("matmul", "wrong_output", None)):
        run = folder / "tasks" / name
        (run / "candidates").mkdir(parents=True)
        before, _, tuning = SPEEDUPS[name] if tuned else (None, None, None)
        events = agent_trajectory(name, start=name == "layernorm")
        if tuning:
            events += [{"type": "final_measure", "candidate": "L0-R1", "result": passed(before)},
                       {"type": "tune", **tuning}]
        (run / "trajectory.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        (run / "summary.json").write_text(json.dumps({
            "task": f"builtin:{name}", "model": "openai/gpt-4o", "device": "NVIDIA H100 80GB HBM3",
            "solved": status == "passed", "best_candidate": "L0-R1" if status == "passed" else None,
            "candidates": 2, "restarts": 1, "stop_reason": None,
            "tuning": {**tuning, "speedup_before_tuning": before} if tuning else None}))
        if status == "passed":
            (run / "best.py").write_text(f"# tritonsmith: best kernel for builtin:{name}\n{SECOND}")
        store.append(TaskRecord(f"builtin:{name}", "builtin", "agent", status, True, status == "passed",
                                speedup=speedup, speedup_vs_torch=speedup and speedup * 0.9,
                                lineages=lineages if status == "passed" else [
                                    LineageOutcome(0, True, False, None, points[:1])],
                                tokens=15230, usd=0.21, wall_s=182.5, run_dir=f"tasks/{name}",
                                speedup_before_tuning=before, tuning=tuning_outcome(tuning)))
    store.append(TaskRecord("builtin:broken", "builtin", "agent", "error", False, False,
                            error="task builtin:broken could not be loaded: its reference raises"))
    return folder


def trajectories(page: str) -> dict[str, str]:
    """Each task section's id and its trajectory HTML, unpacked as the browser does."""
    found = {}
    for section_id, blob in re.findall(
            r'<section class="page task" id="([^"]+)".*?(?:<script type="application/gzip\+base64" class="blob">'
            r'([^<]*)</script>|</section>)', page, flags=re.S):
        found[section_id] = gzip.decompress(base64.b64decode(blob)).decode() if blob else ""
    return found


@pytest.fixture
def report(tmp_path) -> Path:
    return write_report(write_bench(tmp_path / "bench"))


def test_every_task_has_a_section_and_the_summary_links_to_it(report):
    page = report.read_text()
    assert report.name == "report.html"
    sections = trajectories(page)
    assert set(sections) == {"task-softmax", "task-layernorm", "task-matmul", "task-broken"}
    for section_id in sections:
        assert f'href="#{section_id}"' in page
    assert "could not be loaded: its reference raises" in page
    for text in ("openai/gpt-4o", "NVIDIA H100 80GB HBM3", "builtin", "2025-05-04"):
        assert text in page.split("<main>")[0]  # the header


def test_text_from_runs_is_escaped(report):
    page = report.read_text()
    softmax = trajectories(page)["task-softmax"]
    assert HOSTILE not in page and HOSTILE not in softmax
    assert "&lt;/script&gt;&lt;b&gt;x &amp; done" in softmax  # in the diff to the previous candidate
    assert "a &lt; b &amp;&amp; c &gt; d" in softmax  # in a prompt
    assert page.count("<script") == page.count("</script>") == 4  # three trajectories and the page's own script


def test_the_trajectory_has_diffs_prompts_and_results(report):
    softmax = trajectories(report.read_text())["task-softmax"]
    assert "L0-R0 in full" in softmax and "changes from L0-R0" in softmax
    assert '<span class="d-add">+' in softmax and '<span class="d-del">-' in softmax
    assert "max abs error 0.031" in softmax and "[3, 999]" in softmax  # the failing case
    assert "M=4096, N=4096, float16" in softmax and "1.42×" in softmax  # the timings table
    assert "% measured BW" in softmax and "54.0%" in softmax and "% datasheet BW" in softmax and "49.0%" in softmax
    assert "% measured FLOP/s" not in softmax  # no column for what no case has
    assert "as in L0 round 0 generate" in softmax  # the guide, repeated, is shown once
    assert "show all" in softmax  # the long guide is clipped, not dropped
    assert softmax.index('id="task-softmax/L0"') < softmax.index('id="task-softmax/L1"')


def test_an_optimize_run_shows_its_start_kernel(report):
    layernorm = trajectories(report.read_text())["task-layernorm"]
    assert layernorm.index("Start kernel") < layernorm.index("Lineage 0")
    assert "the kernel of candidate start" in layernorm  # the prompts refer to it rather than repeat it


def test_speedups_before_and_after_tuning(report):
    page = report.read_text()
    summary = page.split('<section class="page task"')[0]
    assert '<th class="num" data-kind="num" tabindex="0">before tuning</th>' in summary
    # softmax: 1.42 after tuning, 1.20 before; layernorm kept its untuned kernel: 0.81 both
    assert re.search(r'data-v="1\.42"[^>]*>1\.42×</td><td data-v="1\.2" class="num faster">1\.20×</td>', summary)
    assert re.search(r'data-v="0\.81"[^>]*>0\.81×</td><td data-v="0\.81" class="num slower">0\.81×</td>', summary)
    metrics = summary.split('<table class="metrics">')[1].split("</table>")[0]
    # after: sqrt(1.42 * 0.81) = sqrt(1.1502) = 1.0725; before: sqrt(1.2 * 0.81) = sqrt(0.972) = 0.9859
    assert "speedup, geometric mean</th><td class=\"num\">1.07×" in metrics
    assert "speedup before tuning, geometric mean</th><td class=\"num\">0.99×" in metrics
    assert "tasks tuned</th><td class=\"num\">1 of 2" in metrics
    # from tuning: softmax 1.18 (final measurements), layernorm 1 (kept) -> sqrt(1.18) = 1.0863
    assert "speedup from tuning, geometric mean</th><td class=\"num\">1.09×" in metrics
    assert "0.99× before tuning" in summary.split('<div class="cards">')[1]  # the headline card's note
    facts = page.split('id="task-softmax"')[1].split("</dl>")[0]
    assert "<dt>speedup before tuning</dt><dd>1.20×</dd>" in facts
    assert ("<dt>tuning</dt><dd>applied: softmax_kernel.BLOCK=2048, softmax_kernel.num_warps=8, 1.18× over the untuned winner "
            "(14 trials in 41.3 s)</dd>") in facts
    layernorm = page.split('id="task-layernorm"')[1].split('<div class="trajectory">')[0]
    assert "<dd>kept the untuned kernel (6 trials in 12.0 s)</dd>" in layernorm
    assert "Tuning kept the untuned kernel: search done; no configuration beat the original by 1%" in layernorm
    softmax = trajectories(page)["task-softmax"]
    final = softmax.split('id="task-softmax/final"')[1]
    assert softmax.index('id="task-softmax/L1"') < softmax.index('id="task-softmax/final"')
    assert "final measurement" in final and "candidate L0-R1, timed again" in final
    assert ("applied softmax_kernel.BLOCK=2048, softmax_kernel.num_warps=8: 1.18× faster than the untuned winner · "
            "48.6 µs → 41.2 µs · 14 trials in 41.3 s · stopped: budget spent") in final
    assert "&quot;type&quot;" not in softmax  # no event falls back to a raw JSON dump
    assert "kept the untuned kernel · 50.0 µs → 50.0 µs" in trajectories(page)["task-layernorm"]


def test_without_tuning_there_is_no_before_tuning_column(tmp_path):
    page = write_report(write_bench(tmp_path / "bench", tuned=False)).read_text()
    assert "before tuning" not in page and "tasks tuned" not in page


def test_a_bench_of_200_tasks_stays_small(tmp_path):
    bench = write_bench(tmp_path / "bench")
    store = ResultsStore(bench)
    template = (bench / "tasks" / "softmax" / "trajectory.jsonl").read_text()
    for index in range(200):
        run = bench / "tasks" / f"kernel{index}"
        run.mkdir(parents=True)
        (run / "trajectory.jsonl").write_text(template.replace("softmax", f"kernel{index}") * 4)
        store.append(TaskRecord(f"builtin:kernel{index}", "builtin", "agent", "passed", True, True,
                                speedup=1 + index / 100, run_dir=f"tasks/kernel{index}"))
    raw = sum(path.stat().st_size for path in bench.glob("tasks/*/trajectory.jsonl"))
    page = write_report(bench).read_text()
    assert len(trajectories(page)) == 204
    assert len(page) < raw / 10


def test_a_folder_that_is_not_a_bench_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match="not a bench folder"):
        write_report(tmp_path)


def test_the_report_needs_no_network(report):
    page = report.read_text()
    blobs = "".join(trajectories(page).values())
    assert not re.search(r"https?://", page + blobs)
    assert not re.search(r"""\s(src|href)=["'](?!#|data:)""", page + blobs)
    assert 1000 < len(page) < 200_000


def test_an_empty_bench_still_reports(tmp_path):
    ResultsStore(tmp_path).save_settings({"suite": "builtin", "solver": "baseline"})
    page = write_report(tmp_path, tmp_path / "out" / "r.html").read_text()
    assert "No speedup plots: no task passed, so there is no speedup to average" in page


def test_a_run_with_nothing_timed_says_why_instead_of_empty_speedup_charts(tmp_path):
    store = ResultsStore(tmp_path)
    store.save_settings({"suite": "builtin", "solver": "agent", "device": "cpu"})
    why = "no GPU, so candidates were verified on the Triton CPU interpreter only"
    for name in ("add", "mul"):
        points = [RoundPoint(0, True, False), RoundPoint(1, True, True)]
        store.append(TaskRecord(f"builtin:{name}", "builtin", "agent", "passed", True, True, speed_reason=why,
                                lineages=[LineageOutcome(0, True, True, None, points)] * 2))
    page = write_report(tmp_path).read_text()
    assert f"No speedup plots: none of the 2 correct tasks has a measured speedup: {why}" in page
    assert "Speedup per task" not in page and "Speedup after each round" not in page
    assert "Accuracy after each round" in page and 'stroke-dasharray="7 5"' in page  # call drawn dashed over exec


def test_long_task_names_stay_readable_in_the_speedup_chart(tmp_path):
    store = ResultsStore(tmp_path)
    store.save_settings({"suite": "tritonbench-g", "solver": "baseline"})
    long = "fused_recurrent_retention_forward_kernel_with_state"
    store.append(TaskRecord(f"tritonbench-g:{long}", "tritonbench-g", "baseline", "passed", True, True, speedup=1.2))
    page = write_report(tmp_path).read_text()
    assert f"<title>tritonbench-g:{long}: " in page  # the whole name on hover
    assert ">fused_recurrent…ernel_with_state</text>" in page  # both ends, not "fused_recurrent_r…"


def _browser():
    """A headless Chromium driven by selenium, or a skip saying what is missing."""
    try:
        from selenium import webdriver
        from selenium.webdriver.chrome.service import Service
    except ImportError:
        pytest.skip("selenium is not installed (pip install selenium)")
    binary = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    driver_path = shutil.which("chromedriver")
    if not binary or not driver_path:
        pytest.skip("chromium and chromedriver are not installed (apt-get install chromium chromium-driver)")
    return webdriver, Service(driver_path), binary


def test_the_page_works_in_headless_chromium(report, tmp_path):
    webdriver, service, binary = _browser()
    from selenium.webdriver.common.by import By
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = binary
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--disable-dev-shm-usage", f"--user-data-dir={tmp_path / 'profile'}", "--window-size=1400,1800"):
        options.add_argument(flag)
    options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
    driver = webdriver.Chrome(service=service, options=options)
    try:
        driver.get(report.as_uri())
        assert driver.find_element(By.ID, "summary").is_displayed()
        assert not driver.find_element(By.ID, "task-softmax").is_displayed()
        driver.save_screenshot(str(tmp_path / "summary.png"))

        driver.find_element(By.CSS_SELECTOR, 'table.tasks a[href="#task-softmax"]').click()
        section = driver.find_element(By.ID, "task-softmax")
        WebDriverWait(driver, 10).until(lambda d: section.is_displayed()
                                        and section.find_elements(By.CSS_SELECTOR, "pre.diff"))
        assert not driver.find_element(By.ID, "summary").is_displayed()
        diff = section.find_element(By.CSS_SELECTOR, "pre.diff")
        assert diff.is_displayed() and HOSTILE in diff.text  # shown as text, not parsed as markup
        assert not section.find_elements(By.XPATH, ".//b[text()='x']")
        driver.save_screenshot(str(tmp_path / "task.png"))

        prompt = section.find_elements(By.CSS_SELECTOR, "details.prompt")[2]  # L0 round 1: repeats the guide
        prompt.find_element(By.TAG_NAME, "summary").click()
        shown = len(prompt.find_elements(By.CSS_SELECTOR, ".section"))
        assert "rule 59" not in prompt.get_attribute("textContent")
        prompt.find_element(By.CSS_SELECTOR, "button.reveal").click()
        assert len(prompt.find_elements(By.CSS_SELECTOR, ".section")) > shown
        assert "rule 59" in prompt.get_attribute("textContent")

        driver.get(report.as_uri() + "#task-matmul/L0-R1")  # a deep link to one round
        WebDriverWait(driver, 10).until(lambda d: d.find_element(By.ID, "task-matmul/L0-R1").is_displayed())

        errors = [entry for entry in driver.get_log("browser") if entry["level"] == "SEVERE"]
        assert not errors, errors
    finally:
        driver.quit()


def test_a_bench_resumed_on_another_device_says_its_totals_mix_them(tmp_path):
    """Each record keeps the device it was evaluated on; a bench resumed on another GPU model holds two, which
    the text summary and the report's header name, with a warning that the totals mix them."""
    from tritonsmith.cli.bench import metrics_text
    from tritonsmith.report.metrics import suite_metrics

    store = ResultsStore(tmp_path)
    store.save_settings({"suite": "builtin", "solver": "baseline", "device": "auto"})
    for name, device in (("add", "NVIDIA H100 80GB HBM3"), ("mul", "NVIDIA H100 80GB HBM3"), ("relu", "NVIDIA H200")):
        store.append(TaskRecord(f"builtin:{name}", "builtin", "baseline", "passed", True, True, speedup=1.0,
                                device=device))
    records = store.records()
    metrics = suite_metrics(records)
    assert metrics["devices"] == {"NVIDIA H100 80GB HBM3": 2, "NVIDIA H200": 1}
    assert ("devices: NVIDIA H100 80GB HBM3 (2 tasks), NVIDIA H200 (1 tasks): this bench was resumed on another "
            "machine") in metrics_text(metrics)
    page = write_report(tmp_path).read_text()
    assert "NVIDIA H100 80GB HBM3, NVIDIA H200 (a bench resumed on another machine: its totals mix them)" in page
    one = suite_metrics(records[:2])
    assert "device: NVIDIA H100 80GB HBM3" in metrics_text(one) and "resumed" not in metrics_text(one)
    older = TaskRecord("builtin:old", "builtin", "baseline", "passed", True, True, speedup=1.0)  # before devices
    assert suite_metrics([older])["devices"] == {}
    assert suite_metrics([older, *records[:2]])["devices"] == {"not recorded": 1, "NVIDIA H100 80GB HBM3": 2}
