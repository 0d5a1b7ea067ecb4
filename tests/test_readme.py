"""README.md as a newcomer reads it: its Python snippet runs as written, and every path it names is in the
repository."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

from tritonsmith.suites import resolve_task

ROOT = Path(__file__).parents[1]
README = (ROOT / "README.md").read_text()


def test_the_python_snippet_runs_as_written(tmp_path):
    (snippet,) = [block for block in re.findall(r"```python\n(.*?)```", README, re.S) if "resolve_task" in block]
    (tmp_path / "my_softmax.py").write_text(resolve_task("softmax").baseline)  # the candidate the snippet reads
    done = subprocess.run([sys.executable, "-c", snippet], cwd=tmp_path, capture_output=True, text=True, timeout=600,
                          env={**os.environ, "XDG_CACHE_HOME": str(tmp_path / "cache")})
    assert done.returncode == 0, done.stderr[-2000:]
    assert done.stdout.startswith("passed "), done.stdout


def test_every_path_it_names_is_in_the_repository():
    named = set(re.findall(r"\]\(([^)#]+)\)", README)) | set(re.findall(r"`(\.\./[^`]+|docs/[^`]+)`", README))
    assert named and all(not path.startswith("..") and (ROOT / path).exists() for path in named), sorted(named)
