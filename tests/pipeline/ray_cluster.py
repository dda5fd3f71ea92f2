"""One local Ray cluster per test module, shared by its in-process runs (they find it connected and use it)."""

from __future__ import annotations

import os
from collections.abc import Iterator


def local_ray_cluster() -> Iterator[str]:
    """A module fixture's body: start a 2-CPU local cluster (token auth off, as CI needs), yield its address, shut it down."""
    import ray  # here, not at the top: a module without Ray skips (optional_tool) before its fixtures run

    before = os.environ.get("RAY_AUTH_MODE")
    os.environ["RAY_AUTH_MODE"] = "disabled"
    ray.init(num_cpus=2, include_dashboard=False, object_store_memory=100 * 1024 * 1024, logging_level="ERROR", log_to_driver=False)
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()
        if before is None:
            os.environ.pop("RAY_AUTH_MODE", None)
        else:
            os.environ["RAY_AUTH_MODE"] = before
