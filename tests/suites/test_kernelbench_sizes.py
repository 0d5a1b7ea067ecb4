"""Scaled-down KernelBench sizes for the CPU interpreter (suites/kernelbench_sizes.py), read from source."""

from __future__ import annotations

import ast
import textwrap

from tritonsmith.suites.kernelbench_sizes import LIMIT, SMALL, _evaluate, _Problem, scale_sizes

HEADER = "import torch\nimport torch.nn as nn\n\n\nclass Model(nn.Module):\n    pass\n\n\n"


def problem(sizes: str, inputs: str, init: str = "[]", model: str = "") -> str:
    return (HEADER + model + textwrap.dedent(sizes) + f"\n\ndef get_inputs():\n    return {inputs}\n\n\n"
            f"def get_init_inputs():\n    return {init}\n")


def constants(source: str) -> dict:
    """The module-level values of a scaled source, read the way the scaler reads them."""
    return _Problem(ast.parse(source)).env({})


def input_sizes(source: str) -> list[int]:
    return _Problem(ast.parse(source)).input_sizes({})


def test_kernelbench_relu_sizes_shrink_until_the_input_fits_and_the_source_says_so():
    source = problem("batch_size = 4096\ndim = 393216\n", "[torch.rand(batch_size, dim)]")
    scaled = scale_sizes(source)
    assert scaled.changes == {"batch_size": (4096, 256), "dim": (393216, 192)}
    assert scaled.note == "sizes scaled for the CPU interpreter: batch_size 4096→256, dim 393216→192"
    assert "batch_size = 256\ndim = 192\n" in scaled.source
    assert scaled.source.replace("= 256", "= 4096").replace("= 192", "= 393216") == source
    assert input_sizes(scaled.source) == [256 * 192] and 256 * 192 <= LIMIT


def test_the_forms_kernelbench_writes_sizes_in_are_all_rewritten():
    source = problem("""\
        M = 1024 * 2
        depth, height, width = 16, 512, 512
        rows = cols = 4096
        input_shape = (32768,)
        layers = [1024] * 4
        """, "[torch.rand(M, rows), torch.randn(depth, height, width), torch.rand(cols, *input_shape)]",
        "[layers]")
    scaled = scale_sizes(source)
    assert input_sizes(scaled.source) == [256 * 256, 16 * 64 * 64, 256 * 128]
    assert {name: value for name, value in constants(scaled.source).items() if name in scaled.changes} == {
        "M": 256, "height": 64, "width": 64, "rows": 256, "cols": 256, "input_shape": (128,), "layers": [256] * 4}
    assert "depth, height, width = 16, 64, 64\n" in scaled.source  # depth fits as it is; [...] * 4 is a count
    assert "M = 256\n" in scaled.source and "layers = [256] * 4\n" in scaled.source


def test_what_must_not_change_does_not():
    # kernel sizes, strides and channel counts up to SMALL; literals written in get_inputs; a count of layers
    source = problem("""\
        batch_size = 64
        in_channels = 3
        kernel_size = 7
        stride = 2
        num_layers = 8
        """, "[torch.rand(batch_size, in_channels, 224, 224)]", "[in_channels, kernel_size, stride, num_layers]")
    scaled = scale_sizes(source)
    assert scaled.changes == {"batch_size": (64, 8)}  # 224 is written in get_inputs: not a constant to scale
    assert scaled.note.endswith("(largest input still 1204224 elements)")


def test_a_count_of_parts_keeps_dividing_the_size_it_splits():
    # embed_dim 768 holds 12 heads; halving to 384, 192, 96, 48 keeps that, 24 would not
    source = problem("batch_size = 32\nseq = 512\nembed_dim = 768\nnum_heads = 12\n",
                     "[torch.rand(batch_size, seq, embed_dim)]", "[embed_dim, num_heads]")
    scaled = constants(scale_sizes(source).source)
    assert scaled["embed_dim"] % 12 == 0 and scaled["embed_dim"] < 768 and scaled["num_heads"] == 12


def test_equal_sizes_stay_equal_and_a_capacity_holds_what_it_held():
    source = problem("batch_size = 128\nseq_len = 512\nfeatures = 1024\nout_features = 1024\nmax_len = 2048\n",
                     "[torch.rand(batch_size, seq_len, features)]", "[features, out_features, max_len]")
    scaled = constants(scale_sizes(source).source)
    assert scaled["features"] == scaled["out_features"] < 1024
    assert scaled["seq_len"] <= scaled["max_len"] <= 256 and scaled["seq_len"] < 512


def test_a_scaled_size_that_divides_another_keeps_dividing_it():
    # groups = 512 of 8192 channels, both constructor-only: 8192 % 512 == 0 must survive
    source = problem("batch_size = 16\nchannels = 8192\nnum_groups = 512\n", "[torch.rand(batch_size, 8)]",
                     "[channels, num_groups]")
    scaled = constants(scale_sizes(source).source)
    assert scaled["channels"] <= 256 and scaled["channels"] % scaled["num_groups"] == 0


def test_a_matmul_keeps_m_n_and_k_distinct():
    source = problem("M = 1024 * 2\nK = 4096 * 2\nN = 2048 * 2\n", "[torch.rand(M, K), torch.rand(K, N)]")
    scaled = scale_sizes(source)
    assert scaled.changes == {"M": (2048, 128), "K": (8192, 512), "N": (4096, 64)}


def test_what_only_the_inputs_see_owes_nothing_to_the_constructor():
    # batch_size equals out_channels and out_channels divides height: both coincidences; num_groups=256 divides
    # out_features, which the constructor gets too: that one is kept
    conv = problem("batch_size = 128\nin_channels = 64\nout_channels = 128\nheight = width = 128\n",
                   "[torch.rand(batch_size, in_channels, height, width)]", "[in_channels, out_channels, 3]")
    assert scale_sizes(conv).changes == {"batch_size": (128, 8), "in_channels": (64, 16), "height": (128, 8),
                                         "width": (128, 8)}
    gemm = problem("batch_size = 1024\nfeatures = 8192\nnum_groups = 256\n", "[torch.rand(batch_size, features)]",
                   "[features, num_groups]")
    assert scale_sizes(gemm).changes == {"batch_size": (1024, 128), "features": (8192, 512)}


def test_no_input_size_drops_below_the_window_a_kernel_slides():
    # KernelBench's dilated convolution: a (5, 9) kernel dilated (2, 3) spans 9 x 25, so no size below 27
    conv = problem("batch_size = 8\nwidth = height = 512\nkernel_size = (5, 9)\ndilation = (2, 3)\n",
                   "[torch.rand(batch_size, 32, height, width)]", "[kernel_size, dilation]")
    assert scale_sizes(conv).changes == {"width": (512, 32), "height": (512, 32)}
    pool = problem("batch_size = 16\nsize = 2048\nkernel_size = 11\n", "[torch.rand(batch_size, 64, size, size)]",
                   "[kernel_size]")
    assert scale_sizes(pool).changes == {"size": (2048, 16)}


def test_odd_sizes_round_down_and_no_size_goes_below_small():
    odd = scale_sizes(problem("batch_size = 32768\ndim = 65535\n", "[torch.rand(batch_size, dim)]"))
    assert odd.changes == {"batch_size": (32768, 256), "dim": (65535, 255)}
    six = problem("a = b = c = d = e = f = 16\n", "[torch.rand(a, b, c, d, e, f)]")
    assert constants(scale_sizes(six).source)["f"] == SMALL == 8
    assert scale_sizes(six).note.endswith(f"(largest input still {8 ** 6} elements)")


def test_what_cannot_be_read_statically_is_left_as_it_is():
    small = problem("batch_size = 16\ndim = 1024\n", "[torch.rand(batch_size, dim)]")
    kept = scale_sizes(small)
    assert kept.source == small and kept.changes == {}
    assert kept.note == "the problem's own sizes on the CPU interpreter (no input tensor has more than 65536 elements)"
    # level 4 reads its vocabulary from a downloaded config: that stays, the sequence length shrinks
    downloaded = problem("config = load_config()\nvocab = config.vocab_size\nseq = 999999\n",
                         "[torch.randint(0, vocab, (1, seq))]")
    assert scale_sizes(downloaded).changes == {"seq": (999999, 62499)}
    # a shape computed in get_inputs from a call cannot be read: its sizes stay
    computed = problem("n = 4096 * 4096\n", "[torch.rand(int(n ** 0.5), int(n ** 0.5))]")
    assert scale_sizes(computed).changes == {}
    assert scale_sizes(problem("n = 4096 * 4096\n", "[torch.rand(n)]")).changes == {"n": (4096 * 4096, 65536)}


def test_constants_evaluate_like_python_or_not_at_all():
    def value(text, env=None):
        return _evaluate(ast.parse(text, mode="eval").body, env or {}, {})
    assert value("(a, 2) * 2", {"a": 3}) == (3, 2, 3, 2) and value("[*s, 4]", {"s": (1, 2)}) == [1, 2, 4]
    assert value("2 ** 10 // 3 - -1") == 342 and value("1 << 20") == 1 << 20
    assert repr(value("f(3)")) == repr(value("x.y")) == repr(value("[0] * 10 ** 9")) == repr(value("2 ** 100")) == "?"
