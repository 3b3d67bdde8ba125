"""Stages 1-4 of the pipeline: walk, policy, chunking (the pool), writing, and the run that drives them."""
