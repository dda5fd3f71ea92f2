"""L-BFGS and Adam for a batch of independent problems: one image per slot, each with its own state.

Several frames (of several chains) are optimized as one batch on one device,
so one network pass serves them all. Their optimizers must stay separate:
one frame's curvature history or step size must never leak into another's,
and a slot that has stopped (early stop, budget, a new frame loaded in its
place) must not move. Both classes therefore hold their state as
(slots, ...) tensors, compute every dot product per slot, and take a ``live``
mask that freezes the slots that are not being optimized.

Nothing here reads a value back to the host: every per-slot decision (is the
curvature pair usable, is the direction a descent direction) is a
``torch.where``, so a GPU never waits for the CPU between steps.

:class:`BatchLBFGS` follows ``torch.optim.LBFGS(max_iter=1, line_search_fn=None,
tolerance_grad=0, tolerance_change=0)`` step for step (the first step scaled
by 1/|g|_1, the history's curvature pairs and its diagonal scaling, the
two-loop recursion), so one slot gives torch's iterates to rounding
(tests/model/test_optimizers.py). One difference, for the batch: the history
is one ring of ``history`` columns shared by all slots, written at the same
column by every slot at every step. A slot whose pair is unusable (s.y <= 1e-10,
where torch skips the update) writes an empty column instead, which the
recursion passes over, so it keeps ``history - 1`` pairs for a while where
torch would keep ``history``. The shared column is what lets every step of
the recursion work on all slots at once, without gathering each slot's
columns from its own ring.
"""

from __future__ import annotations

import math

import torch


def _dot(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Per-slot dot products of (K, N) tensors: (K,).

    On the CPU one BLAS dot per slot, as torch's LBFGS takes them: a slot's
    numbers then do not depend on how many slots the batch has (a batched
    product rounds differently for different K, and L-BFGS without a line
    search carries such differences far). Elsewhere one batched product, so a
    GPU is not sent a kernel per slot per history entry.
    """
    if a.device.type == "cpu":
        return torch.stack([torch.dot(x, y) for x, y in zip(a, b)])
    return torch.bmm(a.unsqueeze(1), b.unsqueeze(2)).view(-1)


def _abs_sum(a: torch.Tensor) -> torch.Tensor:
    """Per-slot sum of absolute values of a (K, N) tensor, in the same spirit as :func:`_dot`."""
    if a.device.type == "cpu":
        return torch.stack([x.abs().sum() for x in a])
    return a.abs().sum(1)


class BatchLBFGS:
    """One L-BFGS iteration per ``step`` for every live slot of a (K, ...) parameter."""

    def __init__(self, slots: int, numel: int, *, lr: float, history: int = 50, device: torch.device | str = "cpu") -> None:
        self.lr = lr
        self.history = history
        self.slots = slots
        f32 = dict(device=device, dtype=torch.float32)
        self._s = torch.zeros(history, slots, numel, **f32)  # steps taken
        self._y = torch.zeros(history, slots, numel, **f32)  # gradient changes
        self._rho = torch.zeros(history, slots, **f32)  # 1 / (y.s); 0 marks an empty column
        self._direction = torch.zeros(slots, numel, **f32)
        self._t = torch.zeros(slots, **f32)
        self._previous_grad = torch.zeros(slots, numel, **f32)
        self._h_diag = torch.ones(slots, **f32)
        self._iterations = torch.zeros(slots, dtype=torch.long, device=device)
        self._column = 0  # the ring column the next step writes
        self._age = [0] * slots  # steps since each slot was reset (host side: bounds the recursion)

    def reset(self, slot: int) -> None:
        """Forget slot ``slot``'s history: a new problem starts there."""
        self._s[:, slot] = 0.0
        self._y[:, slot] = 0.0
        self._rho[:, slot] = 0.0
        self._direction[slot] = 0.0
        self._t[slot] = 0.0
        self._previous_grad[slot] = 0.0
        self._h_diag[slot] = 1.0
        self._iterations[slot] = 0
        self._age[slot] = 0

    @torch.no_grad()
    def step(self, params: torch.Tensor, grad: torch.Tensor, live: torch.Tensor) -> None:
        """Move ``params`` (K, ...) in place along the L-BFGS direction, in the slots where ``live`` (K,) is set.

        ``grad`` is the gradient at ``params``; slots that are not live keep
        their parameters and their state.
        """
        slots = self.slots
        g = grad.reshape(slots, -1).float()
        # torch's LBFGS returns at once, changing nothing, when the gradient is exactly 0.
        active = live & (g.abs().amax(1) > 0)
        first = self._iterations == 0

        # The newest curvature pair, from the previous step (none for a slot's first step).
        y = g - self._previous_grad
        s = self._direction * self._t.unsqueeze(1)
        ys = _dot(y, s)
        usable = active & ~first & (ys > 1e-10)
        column = self._column
        keep = usable.unsqueeze(1)
        self._s[column] = torch.where(keep, s, torch.zeros_like(s))
        self._y[column] = torch.where(keep, y, torch.zeros_like(y))
        self._rho[column] = torch.where(usable, 1.0 / torch.where(usable, ys, torch.ones_like(ys)), torch.zeros_like(ys))
        yy = _dot(y, y)
        self._h_diag = torch.where(usable, ys / torch.where(usable, yy, torch.ones_like(yy)), self._h_diag)
        self._column = (column + 1) % self.history

        # Two-loop recursion over the filled columns, newest first, every slot at once.
        filled = min(self.history, max((self._age[k] for k in range(slots)), default=0))
        columns = [(column - j) % self.history for j in range(filled)]
        q = g.neg()
        alphas = []
        for c in columns:
            alpha = _dot(self._s[c], q) * self._rho[c]
            q.sub_(self._y[c] * alpha.unsqueeze(1))
            alphas.append(alpha)
        r = q * self._h_diag.unsqueeze(1)
        for c, alpha in zip(reversed(columns), reversed(alphas)):
            beta = _dot(self._y[c], r) * self._rho[c]
            r.add_(self._s[c] * (alpha - beta).unsqueeze(1))
        direction = torch.where(first.unsqueeze(1), g.neg(), r)

        # torch: min(1, 1/|g|_1) * lr for the first step, lr after it; no step uphill.
        t = torch.where(first, torch.clamp(1.0 / _abs_sum(g), max=1.0) * self.lr, torch.full_like(self._t, self.lr))
        downhill = _dot(g, direction) <= 0
        move = (active & downhill).unsqueeze(1)
        flat = params.view(slots, -1)
        flat.add_(torch.where(move, direction * t.unsqueeze(1), torch.zeros_like(direction)).to(flat.dtype))

        keep = active.unsqueeze(1)
        self._previous_grad = torch.where(keep, g, self._previous_grad)
        self._direction = torch.where(keep, direction, self._direction)
        self._t = torch.where(active, t, self._t)
        self._iterations = self._iterations + active.long()
        for k in range(slots):
            self._age[k] += 1


class BatchAdam:
    """Adam (Kingma & Ba; torch.optim.Adam's defaults) for every live slot of a (K, ...) parameter.

    Adam is elementwise, so a batch is K separate Adams as long as each slot
    keeps its own step count (for the bias correction) and frozen slots are
    left alone, as they are here.
    """

    def __init__(self, slots: int, shape: tuple[int, ...], *, lr: float, betas: tuple[float, float] = (0.9, 0.999),
                 eps: float = 1e-8, device: torch.device | str = "cpu") -> None:
        self.lr = lr
        self.beta1, self.beta2 = betas
        self.eps = eps
        self._m = torch.zeros((slots, *shape), device=device, dtype=torch.float32)
        self._v = torch.zeros((slots, *shape), device=device, dtype=torch.float32)
        self._steps = torch.zeros(slots, device=device, dtype=torch.float32)

    def reset(self, slot: int) -> None:
        self._m[slot] = 0.0
        self._v[slot] = 0.0
        self._steps[slot] = 0.0

    @torch.no_grad()
    def step(self, params: torch.Tensor, grad: torch.Tensor, live: torch.Tensor) -> None:
        view = (-1,) + (1,) * (params.ndim - 1)
        keep = live.view(view)
        g = grad.float()
        m = torch.where(keep, torch.lerp(self._m, g, 1 - self.beta1), self._m)
        v = torch.where(keep, self._v * self.beta2 + (1 - self.beta2) * g * g, self._v)
        steps = self._steps + live.to(self._steps.dtype)
        # Bias corrections 1 - beta**t as -expm1(t log beta): torch computes them in
        # Python floats, and 1 - 0.999**t in float32 would be off by 1e-4 at t = 1.
        counted = torch.clamp(steps, min=1.0)
        bias1 = -torch.expm1(counted * math.log(self.beta1))
        bias2_sqrt = (-torch.expm1(counted * math.log(self.beta2))).sqrt()
        denom = v.sqrt() / bias2_sqrt.view(view) + self.eps
        update = m / denom * (self.lr / bias1).view(view)
        params.sub_(torch.where(keep, update, torch.zeros_like(update)).to(params.dtype))
        self._m, self._v, self._steps = m, v, steps
