"""Small helpers that more than one part needs and that belong to none of them: loading a module from a file,
comparing tensors, evaluating constant expressions read from source. Each imports only the standard library
at import time."""
