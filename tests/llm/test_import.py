"""Importing tritonsmith.llm stays cheap: no provider SDK until the first call."""

from __future__ import annotations

import subprocess
import sys


def test_import_does_not_import_litellm():
    code = ("import sys, tritonsmith.llm; "
            "print(sorted(m for m in sys.modules if m.split('.')[0] in ('litellm', 'openai', 'httpx')))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, timeout=60)
    assert out.stdout.strip() == "[]", out.stdout
