"""The task contract: valid files load; malformed ones fail with one sentence naming file and field."""

from __future__ import annotations

import textwrap

import pytest

from tritonsmith.suites import load_suite, resolve_task
from tritonsmith.task import TaskError, load_task

VALID = '''
import torch

ID = "double"
KIND = "elementwise"
DIFFICULTY = 1
ENTRY_POINT = "double"
SIGNATURE = "def double(x: torch.Tensor) -> torch.Tensor"
INSTRUCTION = "Return 2 * x."
CORRECTNESS_CASES = [{"shape": [5], "dtype": "float32"}, {"shape": [1], "dtype": "float16"}]
PERF_CASES = [{"shape": [1 << 24], "dtype": "float32"}]
TOLERANCES = {"float16": {"atol": 1e-3, "rtol": 1e-3}}


def make_inputs(case, generator, device):
    return (torch.randn(case["shape"], generator=generator, device=device).to(getattr(torch, case["dtype"])),)


def reference(x):
    return 2 * x


def flops(case):
    return case["shape"][0]


def bytes_moved(case):
    return 8 * case["shape"][0]
'''


def write(tmp_path, text, name="task.py"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(text))
    return path


def test_valid_task_loads(tmp_path):
    task = load_task(write(tmp_path, VALID))
    assert task.id == "double" and task.entry_point == "double" and task.kind == "elementwise"
    assert task.dtypes == ["float32", "float16"]
    assert task.tolerances["float16"].atol == 1e-3
    assert task.baseline is None and not task.has_check


@pytest.mark.parametrize("change, field", [
    (('ID = "double"', ""), "ID"),
    (('ID = "double"', 'ID = "two words"'), "ID"),
    (('ENTRY_POINT = "double"', 'ENTRY_POINT = "not-an-identifier"'), "ENTRY_POINT"),
    (('INSTRUCTION = "Return 2 * x."', 'INSTRUCTION = ""'), "INSTRUCTION"),
    (('"dtype": "float16"}]', '"dtype": "half"}]'), "CORRECTNESS_CASES"),
    (('CORRECTNESS_CASES = [', 'CORRECTNESS_CASES = [] and ['), "CORRECTNESS_CASES"),
    (('PERF_CASES = [{"shape": [1 << 24]', 'PERF_CASES = [{"shape": [-3]'), "PERF_CASES"),
    (('PERF_CASES = [{"shape": [1 << 24], "dtype": "float32"}]', 'PERF_CASES = [3]'), "PERF_CASES"),
    (('DIFFICULTY = 1', 'DIFFICULTY = 9'), "DIFFICULTY"),
    (('KIND = "elementwise"', 'KIND = "magic"'), "KIND"),
    (('TOLERANCES = {"float16": {"atol": 1e-3, "rtol": 1e-3}}', 'TOLERANCES = {"float16": {"atol": 1e-3}}'),
     "TOLERANCES"),
    (('def flops(case):', 'def flop_count(case):'), "flops"),
    (('def reference(x):', 'def ref(x):'), "reference"),
])
def test_malformed_task_names_file_and_field(tmp_path, change, field):
    old, new = change
    assert old in VALID
    path = write(tmp_path, VALID.replace(old, new))
    with pytest.raises(TaskError) as info:
        load_task(path)
    message = str(info.value)
    assert str(path) in message and field in message
    assert "\n" not in message and message.endswith(".")


def test_syntax_error_names_line(tmp_path):
    path = write(tmp_path, VALID.replace("def reference(x):", "def reference(x:"))
    with pytest.raises(TaskError, match=r"line \d+.*not valid Python"):
        load_task(path)


def test_baseline_must_parse(tmp_path):
    path = write(tmp_path, VALID + '\nBASELINE = "def double(x):\\n  return (\\n"\n')
    with pytest.raises(TaskError, match="BASELINE"):
        load_task(path)


def test_missing_file_is_one_sentence(tmp_path):
    with pytest.raises(TaskError, match="cannot read the task file"):
        load_task(tmp_path / "nope.py")


def test_resolve_by_path_suite_and_id(tmp_path):
    path = write(tmp_path, VALID)
    assert resolve_task(str(path)).id == "double"
    assert resolve_task("builtin:vector_add").suite == "builtin"
    assert resolve_task("vector_add").entry_point == "vector_add"
    with pytest.raises(TaskError, match="no task with id 'nope'"):
        resolve_task("builtin:nope")
    with pytest.raises(TaskError, match="unknown suite"):
        resolve_task("other:vector_add")


def test_builtin_suite_ids_are_unique_and_match_files():
    tasks = load_suite("builtin")
    ids = [t.id for t in tasks]
    assert len(ids) == len(set(ids))
    assert all(t.path.stem == t.id for t in tasks)


@pytest.mark.timeout(20)
@pytest.mark.parametrize("literal", ["((((10**64)**64)**64)**64)**64", "(1 << 200) * (1 << 200)", "2 ** 10000",
                                     "1 / 0", "10.0 ** 400", "(-8) ** 0.5", "{[1]: 2}", "'ab' * 3"])
def test_a_literal_too_big_or_without_a_value_fails_at_once(tmp_path, literal):
    path = write(tmp_path, VALID + f"\nBIG = {literal}\n")
    with pytest.raises(TaskError, match="field BIG .* must be a literal"):
        load_task(path)


def test_arithmetic_on_shapes_still_works(tmp_path):
    path = write(tmp_path, VALID.replace("[1 << 24]", "[2 ** 20 * 16 // 4 + (1 << 3) - 8]"))
    assert load_task(path).perf_cases[0]["shape"] == [1 << 22]


def test_a_binary_task_file_is_one_sentence(tmp_path):
    path = tmp_path / "task.py"
    path.write_bytes(b"ID = '\xff'\n")
    with pytest.raises(TaskError, match="not UTF-8 text"):
        load_task(path)


def test_in_place_is_an_optional_flag(tmp_path):
    assert load_task(write(tmp_path, VALID)).in_place is False
    assert load_task(write(tmp_path, VALID + "\nIN_PLACE = True\n")).in_place is True
    with pytest.raises(TaskError, match="field IN_PLACE must be True or False"):
        load_task(write(tmp_path, VALID + "\nIN_PLACE = 'yes'\n"))
