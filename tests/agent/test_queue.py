"""The agent on a queued model (`--model queue:DIR`): stop, answer with `tritonsmith queue answer`, run the same
command again; the run (and a bench) ends exactly as a direct run against the same scripted model does."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from fakellm import FakeLLMServer

from tritonsmith.agent.ledger import Ledger
from tritonsmith.agent.lineage import Candidate, Lineage
from tritonsmith.agent.store import RunStore
from tritonsmith.cli import EXIT_FAILED, EXIT_PASSED, EXIT_PENDING, EXIT_USAGE, main
from tritonsmith.evaluate import WorkerPool
from tritonsmith.llm.errors import ReplyPending
from tritonsmith.runs.store import ResultsStore
from tritonsmith.suites import builtin_dir, resolve_task

from .conftest import fenced

GOOD = {"vector_add": resolve_task("vector_add").baseline, "flip": resolve_task("flip").baseline}
MODEL = "openai/scripted-model"
FLAGS = ["--device", "cpu", "--rounds", "2", "--parallel", "2"]
QUIET = ["--no-hardware", "--no-guide", "--no-one-shot", "--quiet"]


def answer(messages: list[dict]) -> str:
    """A model whose reply depends only on the prompt: a failing first kernel, a plan, then the right kernel."""
    system, prompt = messages[0]["content"], messages[-1]["content"]
    if "expert GPU kernel engineer" not in system:
        return "Root cause: the module raises on import. PLAN: remove the raise."
    good = GOOD["flip"] if "## Task: flip" in prompt else GOOD["vector_add"]
    if "Write the corrected kernel" in prompt:
        return fenced(good)
    return fenced(good + "\nraise RuntimeError('scripted first attempt')\n")


@pytest.fixture
def server():
    with FakeLLMServer(answer) as started:
        yield started


@pytest.fixture
def evaluations(monkeypatch):
    """How many candidates the real worker pool evaluated (a spy: every call still evaluates)."""
    count = []
    evaluate = WorkerPool.evaluate

    def counted(self, task, source, *args, **kwargs):
        count.append(task.name)
        return evaluate(self, task, source, *args, **kwargs)

    monkeypatch.setattr(WorkerPool, "evaluate", counted)
    return count


def cycles_until_done(command: list[str], queue, server, capsys) -> tuple[int, list[str]]:
    """Run `command` and answer what waits, until it stops for another reason; its exit status each time."""
    codes, messages = [], []
    while True:
        codes.append(main(command))
        messages.append(capsys.readouterr().err.strip().splitlines()[-1])
        if codes[-1] != EXIT_PENDING:
            return codes, messages
        assert main(["queue", "answer", str(queue), "--model", MODEL, "--api-base", server.url]) == EXIT_PASSED
        shown = capsys.readouterr().err
        assert "answered by openai/scripted-model" in shown and "run the command that asked for them again" in shown
        assert len(codes) < 12, messages


def outcome(folder) -> dict:
    """What a run decided: its candidates, their sources and verdicts, and its summary (times left out)."""
    store = RunStore(folder)
    state = store.load_state()
    verdicts = sorted((e["candidate"], e["result"]["status"], e["result"]["call_ok"], e["result"]["exec_ok"])
                      for e in store.trajectory() if e["type"] == "evaluate")
    sources = {path.name: path.read_text() for path in sorted((folder / "candidates").iterdir())}
    summary = json.loads((folder / "summary.json").read_text())
    spent = summary.pop("budget")["spent"]
    for key in ("model", "wall_s", "agent_overhead_per_round_s"):
        summary.pop(key)
    return {"candidates": state["candidates"], "lineages": state["lineages"], "verdicts": verdicts,
            "sources": sources, "summary": summary,
            "spent": {key: spent[key] for key in ("calls", "tokens_in", "tokens_out", "usd", "unpriced_calls")}}


def differences(left, right, path: str = "") -> list[str]:
    """Where two outcomes differ, each place with both values (the whole of each: a flaky difference is
    understood from its first failure)."""
    if isinstance(left, dict) and isinstance(right, dict):
        return [d for key in sorted(set(left) | set(right), key=str)
                for d in differences(left.get(key, "<missing>"), right.get(key, "<missing>"), f"{path}[{key!r}]")]
    if isinstance(left, list) and isinstance(right, list) and len(left) == len(right):
        return [d for i, (a, b) in enumerate(zip(left, right)) for d in differences(a, b, f"{path}[{i}]")]
    return [] if left == right else [f"{path}: {left!r} != {right!r}"]


def test_a_lineage_that_waits_takes_back_only_its_own_candidates(tmp_path):
    """A lineage's step undone for a missing reply must not take back what another lineage judged meanwhile
    (a full-suite run once lost a candidate of the other lineage from the saved state this way)."""
    ledger = Ledger(resolve_task("vector_add"), None, None, RunStore(tmp_path), None)
    waiting, other = Lineage(0), Lineage(1)
    before = ledger.checkpoint(waiting)
    ledger.add(Candidate("L1-R0", 1, 0, "compile_error"))  # the other lineage's step, meanwhile
    ledger.note_failure(other, "candidate L1-R0: compile_error")
    ledger.add(Candidate("L0-R0", 0, 0, "wrong_output"))  # the waiting lineage's own, before its reply is asked
    ledger.undo(waiting, before, ReplyPending("no reply yet", key="k", folder=str(tmp_path)))
    assert set(ledger.candidates) == {"L1-R0"} and ledger.last_failure == "candidate L1-R0: compile_error"
    ledger.note_failure(waiting, "candidate L0-R0: wrong_output")
    ledger.undo(waiting, ledger.checkpoint(waiting), ReplyPending("no reply", key="k", folder=str(tmp_path)))
    assert ledger.last_failure == "candidate L0-R0: wrong_output"  # set before that checkpoint: kept


def test_stop_answer_resume_reproduces_the_direct_run_in_rounds_not_prompts(tmp_path, server, evaluations, capsys):
    direct = tmp_path / "direct"
    assert main(["run", "vector_add", "--model", MODEL, "--api-base", server.url, *FLAGS, *QUIET,
                 "--out", str(direct)]) == EXIT_PASSED
    direct_evaluations, prompts = len(evaluations), server.calls
    capsys.readouterr()

    queue, queued = tmp_path / "queue", tmp_path / "queued"
    command = ["run", "vector_add", "--model", f"queue:{queue}", *FLAGS, *QUIET, "--out", str(queued)]
    codes, messages = cycles_until_done(command, queue, server, capsys)
    # each lineage asks generate, reflect, generate: three answers in a chain, so three stops, whatever the number
    # of lineages (two here, six prompts in all)
    assert prompts == 6 and codes == [EXIT_PENDING] * 3 + [EXIT_PASSED], messages
    assert messages[0] == (f"tritonsmith: 2 prompts wait in {queue}/pending: answer them (tritonsmith queue answer "
                           f"{queue} --model MODEL, or by hand as {queue}/replies/KEY.md) and run the same command "
                           "again.")
    assert len(evaluations) == 2 * direct_evaluations == 8, "a resumed run evaluated a candidate again"
    assert server.calls == 2 * prompts  # each prompt answered once by `queue answer`
    assert outcome(queued) == outcome(direct), differences(outcome(queued), outcome(direct))
    steps = [(e["lineage"], e["round"], e["type"]) for e in RunStore(queued).trajectory()]
    assert len(steps) == len(set(steps)), "an undone step was recorded twice"


def test_a_bench_collects_a_prompt_from_every_lineage_of_every_task_per_pass(tmp_path, server, evaluations, capsys):
    suite = tmp_path / "suite"
    suite.mkdir()
    for task_id in GOOD:
        (suite / f"{task_id}.py").write_text((builtin_dir() / f"{task_id}.py").read_text())
    bench = ["bench", "--suite", f"dir:{suite}", "--solver", "agent", *FLAGS]
    direct = tmp_path / "direct"
    assert main([*bench, "--model", MODEL, "--api-base", server.url, "--out", str(direct)]) == EXIT_PASSED
    direct_evaluations, prompts = len(evaluations), server.calls
    capsys.readouterr()

    queue, queued = tmp_path / "queue", tmp_path / "queued"
    codes, messages = cycles_until_done([*bench, "--model", f"queue:{queue}", "--out", str(queued), "--resume"],
                                        queue, server, capsys)
    assert prompts == 12 and codes == [EXIT_PENDING] * 3 + [EXIT_PASSED], messages
    assert messages[0].startswith(f"tritonsmith: 4 prompts wait in {queue}/pending: ")
    assert messages[0].endswith("and run the same command again with --resume.")
    assert len(evaluations) == 2 * direct_evaluations == 16, "a resumed bench evaluated a candidate again"

    def records(folder):
        return {r.task: {**r.to_dict(), "wall_s": None} for r in ResultsStore(folder).records()}

    assert records(queued) == records(direct) and len(records(direct)) == 2
    for task_id in GOOD:
        queued_outcome, direct_outcome = outcome(queued / "tasks" / task_id), outcome(direct / "tasks" / task_id)
        assert queued_outcome == direct_outcome, differences(queued_outcome, direct_outcome)


def tritonsmith(*args):
    return subprocess.run([sys.executable, "-m", "tritonsmith", *args], capture_output=True, text=True, timeout=300)


def test_the_exit_status_the_status_command_and_a_reply_left_empty(tmp_path):
    queue, out = tmp_path / "queue", tmp_path / "run"
    command = ["run", "vector_add", "--model", f"queue:{queue}@{MODEL}", "--device", "cpu", "--rounds", "1",
               "--parallel", "1", *QUIET, "--out", str(out)]
    done = tritonsmith(*command)
    assert done.returncode == EXIT_PENDING == 3 and "Traceback" not in done.stderr
    assert done.stderr.strip().splitlines()[-1] == (
        f"tritonsmith: 1 prompt waits in {queue}/pending: answer it (tritonsmith queue answer {queue} --model "
        f"{MODEL}, or by hand as {queue}/replies/KEY.md) and run the same command again.")
    status = tritonsmith("queue", "status", str(queue))
    assert status.returncode == 0 and "1 prompt waits" in status.stdout and "0 answered" in status.stdout
    (request,) = (queue / "pending").iterdir()
    reply = queue / "replies" / f"{request.stem}.md"
    reply.write_text("")
    empty = tritonsmith(*command)
    assert empty.returncode == EXIT_USAGE and empty.stderr.strip() == (
        f"tritonsmith: error: The reply {reply} is empty: write the model's reply in it, or delete it to leave the "
        "request waiting.")
    reply.write_text(fenced(GOOD["vector_add"]))  # answered by hand
    solved = tritonsmith(*command)
    assert solved.returncode == EXIT_PASSED, solved.stderr
    spent = json.loads((out / "summary.json").read_text())["budget"]["spent"]
    assert spent["estimated_calls"] == 1 and spent["unpriced_calls"] == 1 and spent["tokens"] > 0


def test_answering_without_a_model_or_a_key_is_one_sentence(tmp_path, monkeypatch, capsys):
    queue = tmp_path / "queue"
    (queue / "pending").mkdir(parents=True)
    (queue / "pending" / "abc.json").write_text(json.dumps({"model": None, "messages": [], "params": {}}))

    def error(*args) -> str:
        assert main(list(args)) == EXIT_USAGE
        (line,) = capsys.readouterr().err.strip().splitlines()
        return line

    assert error("queue", "answer", str(queue)) == (
        f"tritonsmith: error: the prompts in {queue}/pending name no model: pass --model (e.g. openai/gpt-4o).")
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    assert error("queue", "answer", str(queue), "--model", "openai/gpt-4o-mini") == (
        "tritonsmith: error: no API key for openai/gpt-4o-mini: set OPENAI_API_KEY, or name the variable that holds "
        "it with --api-key-env (for a local server, give its --api-base).")
    assert "is not a queue folder" in error("queue", "answer", str(tmp_path / "nothing"), "--model", MODEL)
    assert "drop --budget-usd" in error("run", "vector_add", "--model", f"queue:{queue}", "--budget-usd", "1",
                                        "--device", "cpu", "--out", str(tmp_path / "run"))
    assert list((queue / "pending").iterdir()) == [queue / "pending" / "abc.json"]  # nothing answered, nothing lost


def test_the_yaml_configs_model_picks_the_queue_too(tmp_path):
    from tritonsmith.agent.config import RunConfig
    from tritonsmith.config import load_config
    from tritonsmith.llm import make_llm
    from tritonsmith.llm.queue import QueueClient

    path = tmp_path / "run.yaml"
    path.write_text(f"model: queue:{tmp_path / 'queue'}@{MODEL}\ndevice: cpu\n")
    llm = make_llm(load_config(RunConfig, path).model)
    assert isinstance(llm, QueueClient) and llm.folder == tmp_path / "queue" and llm.wanted == MODEL


def test_a_lineage_waiting_for_its_reply_never_holds_back_one_that_has_it(tmp_path, capsys):
    queue, out = tmp_path / "queue", tmp_path / "run"
    command = ["run", "vector_add", "--model", f"queue:{queue}", "--device", "cpu", "--rounds", "1", "--parallel", "2",
               *QUIET, "--out", str(out)]
    assert main(command) == EXIT_PENDING
    requests = sorted((queue / "pending").iterdir())
    assert len(requests) == 2
    salts = {json.loads(path.read_text())["cache_salt"]: path.stem for path in requests}
    (queue / "replies" / f"{salts['lineage=1;round=0;role=generate']}.md").write_text(fenced(GOOD["vector_add"]))
    capsys.readouterr()
    assert main(command) == EXIT_PENDING
    assert "1 prompt waits" in capsys.readouterr().err
    lineages = RunStore(out).load_state()["lineages"]
    assert lineages[1]["round"] == 1 and lineages[1]["history"] == ["L1-R0"]  # verified: done, on the CPU
    assert lineages[0]["round"] == 0 and lineages[0]["history"] == []


def test_a_token_budget_counts_queued_replies(tmp_path, capsys):
    queue, out = tmp_path / "queue", tmp_path / "run"
    command = ["run", "vector_add", "--model", f"queue:{queue}", "--device", "cpu", "--rounds", "3", "--parallel", "1",
               "--budget-tokens", "100", *QUIET, "--out", str(out)]
    assert main(command) == EXIT_PENDING
    (request,) = (queue / "pending").iterdir()
    (queue / "replies" / f"{request.stem}.md").write_text(answer([{"role": "system", "content": "expert GPU kernel "
                                                                  "engineer"}, {"role": "user", "content": ""}]))
    assert main(command) == EXIT_FAILED  # the estimated tokens of the prompt and reply pass 100: no second call
    summary = json.loads((out / "summary.json").read_text())
    assert summary["stop_kind"] == "budget" and "token limit reached" in summary["stop_reason"]
    assert summary["budget"]["spent"]["estimated_calls"] == 1 and summary["budget"]["spent"]["calls"] == 1
    assert not list((queue / "pending").iterdir())  # it stopped before asking the Reflector
