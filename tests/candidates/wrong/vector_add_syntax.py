# Does not parse: the evaluator must report the line.
import triton


def vector_add(x, y)
    return x
