"""A run: plan, work directory + manifest, atomic writes, events, resume."""
