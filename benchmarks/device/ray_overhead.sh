#!/bin/bash
# The Ray comparison: 10 built-in tasks through the local pool and through a Ray actor on this machine (ray and
# its dependencies from .whl/site.tar.xz: the machine has no network), at most RAY_S seconds (default 240).
export PYTHONUNBUFFERED=1
mkdir -p /tmp/site && tar xJf .whl/site.tar.xz -C /tmp/site
export PYTHONPATH=$PWD/src:/tmp/site
nvidia-smi --query-gpu=name,driver_version --format=csv,noheader; date -u
python3 -c "import ray; print('ray', ray.__version__)"
timeout -k 10 ${RAY_S:-240} python3 benchmarks/ray_overhead.py --tasks 10 --json-out $OUT/ray.jsonl > $OUT/ray.log 2>&1
echo "ray rc $?"; tail -25 $OUT/ray.log
ray stop --force > /dev/null 2>&1
