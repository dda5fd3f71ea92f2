"""Stylization methods: what stylizes one frame of a chain (today the per-frame optimizer)."""
