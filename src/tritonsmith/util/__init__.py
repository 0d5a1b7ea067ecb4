"""Small helpers that more than one part needs and that belong to none of them: loading a module from a file,
comparing tensors, evaluating constant expressions read from source, a perf op's calls on a copy of its
inputs, parsing Python from several threads. Each imports only the standard library at import time."""
