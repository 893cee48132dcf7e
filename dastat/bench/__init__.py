"""Benchmarks behind ``dastat bench``: speed against same-machine baselines (docs/benchmarks.md).

One module per target, each with ``run(device=..., quick=..., out=...) -> dict``: ``augment`` (schemes against
torchvision and timm), ``probe`` (engine efficiency, cost to an answer, CLI start-up), ``train`` (the trainer
against its floor and a reference-style loop; ``run_methods`` for the distillation methods), ``cohort`` (a
cohort of students against the same runs one after another) and ``gpu`` (every GPU figure of the docs in one
run, calling the others). They sit above ``probe`` and ``train`` because they use both; nothing in the
library imports them.
"""
