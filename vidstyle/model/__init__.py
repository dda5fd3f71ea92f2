"""The style-transfer core: VGG19/VGG16 features, weights, losses, style targets, the per-frame optimizer."""
