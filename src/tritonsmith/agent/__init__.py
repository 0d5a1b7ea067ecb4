"""The agent: Generator, Evaluator, Reflector, Optimizer over K lineages of N rounds."""
