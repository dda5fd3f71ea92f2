"""Where a run's chains run: in this process, or on Ray workers (the executor factory).

:func:`open_workers` is entered once per run, before the plan (the number of
workers sets the chains' length): with ``--workers`` or ``--ray-address``
it starts or joins a Ray cluster (pipeline/ray_executor.py), and shuts down
what it started on every way out; otherwise the chains run here. Ray is
imported only then, so a run without workers never imports it.
:meth:`Workers.run` then puts the chains through the executor that fits:
the Ray executor on the cluster, else pipeline/executor.py's (one chain at
a time, or ``--batch-chains`` chains in one batch).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from vidstyle.config import Settings
from vidstyle.methods.base import Method, MethodFactory, StopToken
from vidstyle.pipeline.chain import ChainJob
from vidstyle.pipeline.events import ChainEventHandler
from vidstyle.pipeline.executor import Execution, executor_for

if TYPE_CHECKING:
    from vidstyle.pipeline.ray_executor import Cluster


@dataclass(frozen=True)
class Workers:
    """The run's workers: a Ray cluster, or None for this process."""

    cluster: Cluster | None = None

    @property
    def count(self) -> int:
        """Chains that run at once on separate workers (1 in this process)."""
        return self.cluster.workers if self.cluster is not None else 1

    def run(
        self,
        jobs: Sequence[ChainJob],
        *,
        method: Method,
        method_factory: MethodFactory,
        settings: Settings,
        working_size: tuple[int, int],
        stop: StopToken,
        on_event: ChainEventHandler,
    ) -> Execution:
        """Run the chains: ``method`` here, or a method from ``method_factory`` built once on every Ray worker.

        The Execution's ``fault_spent`` says an injected kill fault ended a worker
        (it was spent there, pipeline/ray_executor.py).
        """
        if self.cluster is None:
            return executor_for(method, batch_chains=settings.model.batch_chains).run(jobs, stop=stop, on_event=on_event)
        from vidstyle.pipeline.ray_executor import RayExecutor

        executor = RayExecutor(self.cluster, method_factory=method_factory, settings=settings, working_size=working_size)
        execution = executor.run(jobs, stop=stop, on_event=on_event)
        return replace(execution, fault_spent=executor.fault_spent)


LOCAL = Workers()


@contextlib.contextmanager
def open_workers(settings: Settings, *, on_notice: Callable[[str], None]) -> Iterator[Workers]:
    """The run's workers for as long as the run holds them: Ray's when ``settings.scale`` asks for them, else LOCAL."""
    if not settings.scale.parallel:
        yield LOCAL
        return
    # Imported only here: a run without workers never imports Ray.
    from vidstyle.pipeline import ray_executor

    with ray_executor.connect(settings.scale, settings, on_notice=on_notice) as cluster:
        yield Workers(cluster)
