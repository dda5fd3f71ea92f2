"""Frame sources, sinks, media probing and pixel conversion."""
