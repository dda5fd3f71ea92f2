"""Stylization methods: how a chain of frames becomes stylized frames."""
