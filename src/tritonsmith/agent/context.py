"""What the agent's prompts know of the world: the task, the machine and its stack, the hardware, the
Triton guide and one retrieved example."""

from __future__ import annotations

from tritonsmith.agent import prompts
from tritonsmith.agent.config import RunConfig
from tritonsmith.config import ConfigError
from tritonsmith.task import Task


def build_context(task: Task, config: RunConfig, device_name: str | None) -> prompts.Context:
    from tritonsmith.knowledge.hardware import describe, profile_for

    context = prompts.Context(task=task, task_text=prompts.task_description(task),
                              environment=prompts.environment(device_name, stack_versions()))
    profile = profile_for(device_name) if config.hardware_knowledge else None
    if profile is not None:
        context.hardware = describe(profile)
    if config.guide_knowledge:
        from tritonsmith.knowledge.guide import guide_sections
        context.guide = guide_sections(kind=task.kind, vendor=profile.vendor if profile else "nvidia")
    if config.one_shot:
        from tritonsmith.knowledge.retrieval import ExampleCorpus
        from tritonsmith.suites import load_suite
        corpus = ExampleCorpus.from_tasks(load_suite("builtin"))
        add_corpora(corpus, config.corpus)
        found = corpus.search(task.instruction, k=1, exclude={task.id})
        if found:
            example = found[0]
            context.example = f"{example.description.strip()}\n```python\n{example.code.strip()}\n```"
    return context


def stack_versions() -> str:
    """torch's and Triton's versions as installed, read from their package metadata (neither is imported)."""
    from importlib.metadata import PackageNotFoundError, version

    found = []
    for label, names in (("torch", ("torch",)), ("Triton", ("triton", "pytorch-triton-rocm", "pytorch-triton"))):
        for name in names:
            try:
                found.append(f"{label} {version(name)}")
                break
            except PackageNotFoundError:
                continue
    return ", ".join(found) or "torch and Triton versions unknown"



def error_guide(config: RunConfig):
    """The guide's sections about an error message, for the Reflector; None without the guide."""
    if not config.guide_knowledge:
        return None
    from tritonsmith.knowledge.guide import guide_sections
    return lambda error: guide_sections(error=error, max_chars=2000) if error else ""


def add_corpora(corpus, paths: list[str]) -> None:
    """The extra example corpora of a run into `corpus`; ConfigError, naming the path, for one that cannot
    be read."""
    for path in paths:
        try:
            corpus.add_path(path)
        except ValueError as err:
            raise ConfigError(f"corpus {err}.") from None
