"""What a `tritonsmith run` is asked to do. YAML keys and command-line options share these names."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar, Literal

from tritonsmith.config import Range

DEVICE_FORM = r"auto|cpu|cuda(:[0-9]+)?"


@dataclass
class RunConfig:
    model: str = ""
    """The model, as LiteLLM names it: `openai/gpt-4o`, `anthropic/claude-...`, `hosted_vllm/...`, `ollama/...`; or
    `queue:DIR[@MODEL]`: prompts written to DIR/pending and replies read from DIR/replies, answered elsewhere
    (`tritonsmith queue answer`), for a machine with no internet (docs/llm.md)."""
    api_base: str | None = None
    """Base URL of an OpenAI-compatible server (vLLM, SGLang, Ollama); None for the provider's own."""
    api_key_env: str | None = None
    """Name of the environment variable that holds the API key (the key itself is never written anywhere)."""
    mode: Literal["generate", "optimize"] = "generate"
    """generate: write a kernel from the instruction and reference; optimize: make a given kernel faster."""
    start_from: str | None = None
    """optimize mode: the kernel file to start from (default: the task's baseline)."""
    rounds: int = 8
    """Rounds per lineage (sequential scaling): each is one generation, one evaluation, one reflection."""
    parallel: int = 2
    """Lineages run side by side (parallel scaling); their LLM calls are concurrent."""
    trap: int = 3
    """Debugging trap: after this many failed fixes in a row, a lineage restarts from the best verified kernel."""
    temperature: float = 0.7
    """Sampling temperature of every generation."""
    max_reply_tokens: int = 8192
    """Upper bound on the tokens of one reply."""
    llm_retries: int = 5
    """Retries of one LLM call on rate limits, timeouts and server errors (exponential backoff)."""
    llm_timeout_s: float = 600
    """Seconds before one LLM call is given up (then retried): the whole call, not each read."""
    budget_usd: float | None = None
    """Stop before spending more than this many dollars: each call holds its worst-case price while in flight,
    so the run never passes it. Needs the model's price (LiteLLM's table, or price_per_mtok)."""
    budget_tokens: int | None = None
    """Stop after this many tokens, prompt and reply together."""
    budget_wall_s: float | None = None
    """Stop after this many seconds of wall time."""
    price_per_mtok: list[float] | None = None
    """[input, output] USD per million tokens, for a model LiteLLM cannot price."""
    device: str = "auto"
    """auto, cpu (Triton interpreter: correctness only), cuda or cuda:N."""
    gpus: list[int] | None = None
    """GPU indices to evaluate on (default: the visible ones)."""
    workers_per_gpu: int = 1
    """Evaluations at once on each GPU: they check correctness side by side and take turns to time."""
    cluster: str | None = None
    """Evaluate on a Ray cluster, one actor per GPU: `ray` (RAY_ADDRESS, or a new Ray on this machine), `ray:auto`
    (the cluster this machine is part of), `ray:HOST:PORT` or `ray:ray://HOST:10001`; None: this machine only."""
    hardware_knowledge: bool = True
    """Put the detected device's hardware profile into the prompts."""
    guide_knowledge: bool = True
    """Put the relevant sections of the Triton guide into the prompts."""
    one_shot: bool = True
    """Retrieve one example kernel for a related task (never the task's own baseline)."""
    corpus: list[str] = field(default_factory=list)
    """Extra example corpora: folders of .py files or JSON lists of {code, description}."""
    final_candidates: int = 3
    """How many of the fastest verified kernels are re-measured at the end to pick the winner."""
    final_timing_rounds: int = 10
    """Interleaved timing rounds of that final re-measurement (more than during the search)."""
    tune_budget_s: float = 300
    """Seconds the tuner may spend on the winner's launch parameters at the end (GPU only; 0: no tuning)."""
    eval_timeout_s: float | None = None
    """Wall-clock limit of one evaluation (default 300 s on CPU, 600 s on a GPU)."""
    replay: bool = False
    """Replay a recorded run offline from its LLM cache; a request not in the cache is an error."""

    RANGES: ClassVar[dict[str, Range]] = {
        "rounds": Range(1), "parallel": Range(1), "trap": Range(1), "temperature": Range(0, 2),
        "max_reply_tokens": Range(1), "llm_retries": Range(0), "llm_timeout_s": Range(0, above=True),
        "budget_usd": Range(0, above=True), "budget_tokens": Range(1), "budget_wall_s": Range(0, above=True),
        "price_per_mtok": Range(0), "gpus": Range(0), "final_candidates": Range(1), "final_timing_rounds": Range(1),
        "tune_budget_s": Range(0), "eval_timeout_s": Range(0, above=True), "workers_per_gpu": Range(1)}
    FORMS: ClassVar[dict[str, tuple[str, str]]] = {
        "device": (DEVICE_FORM, "auto, cpu, cuda or cuda:N"),
        "cluster": (r"(ray(:.+)?)?", "ray, ray:auto or ray:HOST:PORT")}  # (empty: this machine only)
