"""Watching a running stack: the sampler (memory, CPU, health of every container over time)."""
