"""Scoring programs against benchmarks' tests.

``completions`` judges a file of completions (``rltf eval``), ``policy`` a model's greedy
programs (the trainer's held-out pass@1), and ``passk`` turns verdicts into pass@k. Only
``policy`` needs torch: ``rltf eval`` must run where torch is not installed.
"""
