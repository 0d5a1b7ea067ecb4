"""Tasks that travel: a KernelBench task (its generated file names the problem file by absolute path) packed,
its folders renamed away, unpacked into a cache and evaluated from there; no Ray needed."""

from __future__ import annotations

import shutil
from pathlib import Path

from tritonsmith.runs.shipping import _rewriter, named_files, pack_task, unpack_task
from tritonsmith.suites import load_suite

FIXTURES = Path(__file__).parents[1] / "fixtures" / "kernelbench"


def kernelbench_task(tmp_path, monkeypatch, task_id="1_ReLU"):
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    level = tmp_path / "KernelBench" / "level1"
    shutil.copytree(FIXTURES / "level1", level)
    return next(t for t in load_suite(f"kernelbench:{level}") if t.id == task_id)


def test_a_packed_task_evaluates_from_the_cache_after_its_folders_are_gone(tmp_path, monkeypatch, cpu_pool):
    task = kernelbench_task(tmp_path, monkeypatch)
    problem = str(tmp_path / "KernelBench" / "level1" / "1_ReLU.py")
    assert problem in task.harness and problem in task.path.read_text()
    bundle = pack_task(task)
    assert {str(task.path), problem} <= set(bundle.files)
    (tmp_path / "KernelBench").rename(tmp_path / "moved")  # the node sees neither folder by the driver's path
    (tmp_path / "cache").rename(tmp_path / "moved-cache")
    node_cache = tmp_path / "node"
    shipped = unpack_task(bundle, node_cache)
    assert shipped.path.is_relative_to(node_cache) and shipped.path.exists()
    copied = str(node_cache / bundle.digest[:24] / problem.lstrip("/"))
    for text in (shipped.harness, shipped.path.read_text()):  # the copy's path ends with the driver's
        assert repr(copied) in text and repr(problem) not in text
    assert unpack_task(bundle, node_cache) == shipped  # a second unpack writes nothing new
    result = cpu_pool.evaluate(shipped, (FIXTURES / "candidates" / "1_ReLU.py").read_text())
    assert result.status == "passed", result.message


def test_paths_are_found_in_nested_code_and_replaced_whole():
    harness = "def f():\n    return load('/usr/bin/env')\n"
    source = f"A = '/usr/bin/env'\nH = {harness!r}\nB = '/no/such/file'\nC = 'usr/bin/env'\n"
    assert named_files(source) == ["/usr/bin/env", "/usr/bin/env"]
    rewrite = _rewriter({"/usr/bin/env": "/cache/usr/bin/env", "/bin/env": "/cache/bin/env"})
    assert rewrite("x('/usr/bin/env') y('/bin/env') z('/usr/bin/env2')") == \
        "x('/cache/usr/bin/env') y('/cache/bin/env') z('/usr/bin/env2')"
