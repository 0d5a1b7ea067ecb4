"""The Triton guide's sections, one Markdown file each, read by tritonsmith.knowledge.guide."""
