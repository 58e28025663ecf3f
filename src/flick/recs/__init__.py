"""Recommendation, offline core: content features, the two-tower model, its training and
checkpoints, the vector index, a synthetic world to train and test on, and offline evaluation.

Pure library code (no HTTP, SQL or bus); docs/recommendation.md describes the whole.
"""
