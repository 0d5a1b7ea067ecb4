"""tritonsmith: LLM agents that write correct, fast Triton kernels, measured honestly."""

__version__ = "0.1.0"
