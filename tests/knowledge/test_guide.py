"""The Triton guide: sections picked by task kind, error message and vendor, within a size budget."""

from __future__ import annotations

import re

import pytest

from tritonsmith.knowledge.guide import (
    guide_sections,
    load_sections,
    parse_section,
    rank_sections,
    section_titles,
)
from tritonsmith.task import KINDS

ILLEGAL_ACCESS = "RuntimeError: CUDA error: an illegal memory access was encountered"


def titles(text: str) -> list[str]:
    return re.findall(r"^## (.+)$", text, re.MULTILINE)


def test_the_guide_has_its_sections():
    names = {section.name for section in load_sections()}
    assert {"masking", "blocks", "memory", "reductions", "dot", "matmul", "attention", "autotune", "persistent",
            "amd", "hopper", "errors"} <= names
    assert len(section_titles()) == len(names)
    assert all(len(section.text()) < 3000 for section in load_sections())  # each stays tight


def test_every_kind_gets_some_guidance():
    for kind in KINDS:
        assert titles(guide_sections(kind=kind)), kind


def test_matmul_kind_gets_the_matmul_section_first():
    text = guide_sections(kind="matmul")
    assert titles(text)[0] == "Matmul tiling and grouped ordering"
    assert "tl.dot rules" in titles(text)
    assert "Attention and online softmax" not in titles(text)


def test_illegal_memory_access_brings_masking_and_int64_offsets():
    text = guide_sections(error=ILLEGAL_ACCESS)
    assert titles(text)[0] == "Masking, bounds and 64-bit offsets"
    assert "tl.int64" in text


def test_the_error_outranks_the_kind():
    error = "AssertionError: Input shapes should have M >= 16, N >= 16 and K >= 16"
    assert titles(guide_sections(kind="softmax", error=error))[0] == "tl.dot rules"
    assert titles(guide_sections(kind="matmul", error=ILLEGAL_ACCESS))[0] == "Masking, bounds and 64-bit offsets"
    arange = "ValueError: arange's range must be a power of 2"
    assert titles(guide_sections(kind="elementwise", error=arange))[0] == "Block sizes, num_warps and num_stages"


def test_vendor_picks_its_own_sections():
    amd = titles(guide_sections(kind="matmul", vendor="amd", max_chars=20000))
    nvidia = titles(guide_sections(kind="matmul", vendor="nvidia", max_chars=20000))
    assert "AMD Instinct specifics" in amd and "Hopper (H100/H200) specifics" not in amd
    assert "Hopper (H100/H200) specifics" in nvidia and "AMD Instinct specifics" not in nvidia
    assert rank_sections(kind="matmul", vendor="ROCm") == rank_sections(kind="matmul", vendor="amd")
    with pytest.raises(ValueError, match="unknown vendor"):
        guide_sections(vendor="intel")


@pytest.mark.parametrize("budget", [0, 50, 400, 2000, 6000])
def test_the_budget_is_respected(budget):
    text = guide_sections(kind="attention", error=ILLEGAL_ACCESS, max_chars=budget)
    assert len(text) <= budget
    if budget >= 400:
        assert titles(text)


def test_a_bigger_budget_gives_more():
    assert len(titles(guide_sections(kind="matmul", max_chars=20000))) > len(titles(guide_sections(kind="matmul")))


def test_no_kind_no_error_gives_the_general_sections():
    assert titles(guide_sections())[0] == "Masking, bounds and 64-bit offsets"


def test_front_matter_is_checked():
    good = "---\ntitle: T\nkinds: matmul, attention\nvendor: amd\nerror: boom|bang\n---\nbody\n"
    section = parse_section("t", good)
    assert section.kinds == ("matmul", "attention") and section.vendor == "amd"
    assert section.error_hits("BANG!") == 1 and section.text() == "## T\nbody\n"
    with pytest.raises(ValueError, match="front matter"):
        parse_section("t", "no front matter")
    with pytest.raises(ValueError, match="unknown front matter line"):
        parse_section("t", good.replace("vendor: amd", "colour: red"))
    with pytest.raises(ValueError, match="vendor"):
        parse_section("t", good.replace("vendor: amd", "vendor: intel"))
