"""Fixtures for the agent tests: a scripted model that plays Generator, Reflector and Optimizer."""

from __future__ import annotations

import threading
import time

import pytest
from fakellm import FakeLLMServer

from tritonsmith.agent.config import RunConfig
from tritonsmith.suites import resolve_task

GOOD = resolve_task("vector_add").baseline
WRONG = GOOD.replace("x + y, mask=mask", "x + y + 1, mask=mask")
BROKEN = GOOD.replace("def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:",
                      "def vector_add(x: torch.Tensor, y: torch.Tensor) -> torch.Tensor")
assert WRONG != GOOD and BROKEN != GOOD


def fenced(code: str) -> str:
    return f"Here is the kernel.\n\n```python\n{code}\n```\n"


class ScriptedKernelModel:
    """Answers by role: generations from a list (the last one repeats), fixed reflections and plans.

    Tracks how many requests were in flight at once, to prove lineages call the model concurrently."""

    def __init__(self, generations: list[str], delay_s: float = 0.0):
        self.generations = list(generations)
        self.delay_s = delay_s
        self.count = {"generate": 0, "reflect": 0, "optimize": 0}
        self.in_flight = 0
        self.max_in_flight = 0
        self._lock = threading.Lock()

    def __call__(self, messages: list[dict]) -> str:
        system = messages[0]["content"]
        role = "reflect" if "debugger" in system else "optimize" if "performance" in system else "generate"
        with self._lock:
            self.count[role] += 1
            number = self.count[role]
            self.in_flight += 1
            self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            time.sleep(self.delay_s)
            if role == "reflect":
                return f"Root cause: see the error. PLAN-{number}: fix it."
            if role == "optimize":
                return f"Memory-bound. PLAN-OPT-{number}: use bigger blocks."
            return self.generations[min(number, len(self.generations)) - 1]
        finally:
            with self._lock:
                self.in_flight -= 1


@pytest.fixture
def scripted():
    """`scripted(generations, delay_s=0)` -> (server, model); the server stops at the end of the test."""
    servers = []

    def start(generations: list[str], delay_s: float = 0.0):
        model = ScriptedKernelModel(generations, delay_s)
        server = FakeLLMServer(model).start()
        servers.append(server)
        return server, model

    yield start
    for server in servers:
        server.stop()


def run_config(server, **overrides) -> RunConfig:
    settings = dict(model="openai/scripted-model", api_base=server.url, device="cpu", rounds=4, parallel=1,
                    trap=3, hardware_knowledge=False, guide_knowledge=False, one_shot=False)
    settings.update(overrides)
    return RunConfig(**settings)
