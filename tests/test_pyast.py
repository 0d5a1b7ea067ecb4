"""Parsing Python from several threads at once (the agent's lineages, a bench's tasks)."""

import ast
import re
import subprocess
import sys
from pathlib import Path

from tritonsmith.util import pyast

SRC = Path(__file__).resolve().parents[1] / "src" / "tritonsmith"

# Four threads parse the same source while the garbage collector, run often, hands the GIL over inside the AST
# constructor: on CPython 3.11, plain ast.parse raises a false SystemError here (python/cpython#106905).
STRESS = """
import gc, sys, threading, time
from tritonsmith.util import pyast
source = "\\n".join(f"def f{i}(x):\\n    return [(a, {{'k': (b, c)}}) for a in x for b in a if b for c in b]"
                   for i in range(200))
errors = []
gc.callbacks.append(lambda phase, info: time.sleep(0))
gc.set_threshold(50)
sys.setswitchinterval(1e-6)
def work():
    for _ in range(15):
        try:
            PARSE(source)
        except SystemError as err:
            errors.append(err)
threads = [threading.Thread(target=work) for _ in range(4)]
for thread in threads:
    thread.start()
for thread in threads:
    thread.join()
print(len(errors))
"""


def test_parse_gives_the_tree_ast_parse_gives():
    source = "def f(x):\n    return x + 1\n"
    assert ast.dump(pyast.parse(source)) == ast.dump(ast.parse(source))
    try:
        pyast.parse("def f(:\n", filename="bad.py")
    except SyntaxError as err:
        assert err.filename == "bad.py"
    else:
        raise AssertionError("a syntax error was not raised")


def test_parsing_from_several_threads_at_once_raises_nothing():
    run = subprocess.run([sys.executable, "-c", STRESS.replace("PARSE", "pyast.parse")], capture_output=True,
                         text=True, timeout=120)
    assert run.returncode == 0, run.stderr
    assert run.stdout.strip() == "0"


def test_no_module_calls_ast_parse_itself():
    direct = re.compile(r"\bast\.parse\(|PyCF_ONLY_AST")
    offenders = [f"{path.relative_to(SRC)}:{number}" for path in SRC.rglob("*.py") if path.name != "pyast.py"
                 for number, line in enumerate(path.read_text().splitlines(), 1) if direct.search(line)]
    assert offenders == [], f"parse through tritonsmith.util.pyast.parse instead: {offenders}"


def test_a_false_recursion_depth_error_is_tried_again_and_any_other_error_is_not(monkeypatch):
    """A parse elsewhere in the process (Python formatting a traceback in another thread) is not held to the
    lock and can still unbalance the counter; the counter is set afresh on every call, so that error is tried
    again, a few times. (The race itself cannot be had on demand: a stand-in raises it.)"""
    real, raised = ast.parse, []

    def flaky(source, filename="<unknown>"):
        if len(raised) < 2:
            raised.append(1)
            raise SystemError("AST constructor recursion depth mismatch (before=45, after=41)")
        return real(source, filename=filename)
    monkeypatch.setattr(pyast.ast, "parse", flaky)
    assert isinstance(pyast.parse("x = 1\n"), ast.Module) and len(raised) == 2

    for message, tries in (("AST constructor recursion depth mismatch (before=1, after=0)", pyast.TRIES),
                           ("something else", 1)):
        def failing(source, filename="<unknown>", message=message):
            raised.append(1)
            raise SystemError(message)
        monkeypatch.setattr(pyast.ast, "parse", failing)
        raised.clear()
        try:
            pyast.parse("x = 1\n")
        except SystemError:
            assert len(raised) == tries, message
        else:
            raise AssertionError(f"{message!r} was not raised")
