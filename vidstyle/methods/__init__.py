"""Stylization methods: what stylizes the frames of a chain (the per-frame optimizer; the fast
feed-forward network trained on the clip)."""
