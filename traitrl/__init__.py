"""traitrl: beneficial-trait reinforcement learning, and whether alignment generalizes and persists."""

import os

# OpenMP worker threads that spin while waiting steal the cores their peers need: on a shared
# 2-core machine a training step took ~10x longer with one other busy process (bench_pretrain).
# libgomp reads this once, when torch is first imported, so it is set here, before any traitrl
# module imports torch; an explicit setting in the environment wins.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")

__version__ = "0.1.0"
