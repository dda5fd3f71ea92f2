"""The style-transfer core: VGG19 features, weights, losses, style targets, the per-frame optimizer."""
