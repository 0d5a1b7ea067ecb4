"""The Triton guide: our own sections, picked for a task kind and/or an error message, within a budget.

Each section is a Markdown file in the package `tritonsmith.knowledge.sections`, read through
importlib.resources on first use. A file opens with a front matter block:

    ---
    title: Masking, bounds and 64-bit offsets
    kinds: all                  (or a comma list of task kinds, the ones it is most about first)
    vendor: any                 (any, nvidia or amd)
    priority: 9                 (higher comes first among sections equally relevant)
    error: illegal memory access|illegal address     (zero or more; regexes, case-insensitive)
    ---
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from importlib import resources

GUIDE_PACKAGE = "tritonsmith.knowledge.sections"
VENDOR_ALIASES = {"nvidia": "nvidia", "cuda": "nvidia", "amd": "amd", "rocm": "amd", "hip": "amd"}
_KEYS = {"title", "kinds", "vendor", "priority", "error"}


@dataclass(frozen=True)
class Section:
    name: str  # the file's stem
    title: str
    kinds: tuple[str, ...]  # ("all",) for every kind
    vendor: str  # "any", "nvidia" or "amd"
    priority: int
    errors: tuple[re.Pattern, ...]
    body: str

    def text(self) -> str:
        return f"## {self.title}\n{self.body.strip()}\n"

    def error_hits(self, error: str) -> int:
        return sum(1 for pattern in self.errors if pattern.search(error))


def parse_section(name: str, text: str) -> Section:
    """One guide file: front matter between `---` lines, then the Markdown body."""
    lines = text.splitlines()
    if not lines or lines[0].strip() != "---" or "---" not in (line.strip() for line in lines[1:]):
        raise ValueError(f"sections/{name}.md: must open with a front matter block between '---' lines")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() == "---")
    fields: dict[str, str] = {}
    errors = []
    for line in lines[1:end]:
        key, sep, value = line.partition(":")
        key, value = key.strip(), value.strip()
        if not sep or key not in _KEYS:
            raise ValueError(f"sections/{name}.md: unknown front matter line {line!r}; keys are {sorted(_KEYS)}")
        if key == "error":
            errors.append(re.compile(value, re.IGNORECASE))
        else:
            fields[key] = value
    missing = {"title", "kinds", "vendor"} - fields.keys()
    if missing:
        raise ValueError(f"sections/{name}.md: front matter lacks {sorted(missing)}")
    vendor = fields["vendor"].lower()
    if vendor not in ("any", "nvidia", "amd"):
        raise ValueError(f"sections/{name}.md: vendor must be any, nvidia or amd, not {vendor!r}")
    kinds = tuple(kind.strip() for kind in fields["kinds"].split(",") if kind.strip())
    return Section(name, fields["title"], kinds, vendor, int(fields.get("priority", 5)), tuple(errors),
                   "\n".join(lines[end + 1:]))


@functools.cache
def load_sections() -> tuple[Section, ...]:
    """Every section of the guide, most important first."""
    files = [f for f in resources.files(GUIDE_PACKAGE).iterdir() if f.name.endswith(".md")]
    if not files:
        raise RuntimeError(f"the Triton guide is missing: no .md files in package {GUIDE_PACKAGE} "
                           "(is its package data declared in pyproject.toml?)")
    sections = [parse_section(f.name[:-3], f.read_text(encoding="utf-8")) for f in files]
    return tuple(sorted(sections, key=lambda s: (-s.priority, s.name)))


def section_titles() -> list[str]:
    return [section.title for section in load_sections()]


def _vendor(vendor: str | None) -> str:
    key = (vendor or "nvidia").lower()
    if key not in VENDOR_ALIASES:
        raise ValueError(f"unknown vendor {vendor!r}: use one of {sorted(VENDOR_ALIASES)}")
    return VENDOR_ALIASES[key]


def rank_sections(kind: str | None = None, error: str | None = None, vendor: str = "nvidia") -> list[Section]:
    """Sections in the order they should be offered: those the error names (most patterns matched
    first), then those for the kind (in the order of its place in each section's kinds) with the
    vendor's own sections among them, then the general ones. Sections for other kinds are left out."""
    vendor = _vendor(vendor)
    ranked = []
    for section in load_sections():
        if section.vendor not in ("any", vendor):
            continue
        hits = section.error_hits(error) if error else 0
        if hits:
            tier = (0, -hits)
        elif kind and kind in section.kinds:
            tier = (1, section.kinds.index(kind))
        elif "all" in section.kinds:
            tier = (1, 0) if section.vendor != "any" else (2, 0)
        elif kind is None and error is None:
            tier = (3, 0)
        else:
            continue
        ranked.append((tier, section))
    ranked.sort(key=lambda pair: pair[0])  # stable: priority order within a tier
    return [section for _, section in ranked]


def guide_sections(kind: str | None = None, error: str | None = None, vendor: str = "nvidia",
                   max_chars: int = 6000) -> str:
    """The guide's sections relevant to a task kind and/or an error message, at most max_chars long."""
    if max_chars <= 0:
        return ""
    chosen: list[str] = []
    used = 0
    for section in rank_sections(kind, error, vendor):
        text = section.text()
        cost = len(text) + (1 if chosen else 0)
        if used + cost <= max_chars:
            chosen.append(text)
            used += cost
        elif not chosen:
            # the most relevant section alone is over budget: keep its first lines rather than nothing
            cut = text[:max_chars]
            chosen.append(cut[:cut.rfind("\n") + 1] if "\n" in cut else cut)
            used = len(chosen[0])
    return "\n".join(chosen)
