"""How the network runs on its device: precision, memory layout, cuDNN autotuning, torch.compile.

Only the network pass changes precision. With bf16 the convolutions run
under autocast, and their responses are cast back to float32 before any
Gram matrix or loss is formed: the losses are normalised by their targets'
mean squares, which are around 1e-8 at relu5_1 with some weights, and the
optimizer's state (L-BFGS history, Adam moments) lives in float32 too.

fp16 is not offered: its exponent range would need loss scaling for these
gradients, and every GPU with fast fp16 since Ampere has bf16 as well.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import torch

from vidstyle.config import Precision
from vidstyle.errors import UsageError


@dataclass(frozen=True)
class Runtime:
    device: torch.device
    precision: Precision  # resolved: never AUTO
    channels_last: bool
    compile: bool = False

    @property
    def dtype(self) -> torch.dtype:
        return torch.bfloat16 if self.precision is Precision.BF16 else torch.float32

    @contextlib.contextmanager
    def network_pass(self) -> Iterator[None]:
        """The context of a forward pass through the network (autocast in bf16; nothing in fp32)."""
        if self.precision is Precision.FP32:
            yield
            return
        with torch.autocast(self.device.type, dtype=self.dtype):
            yield

    def layout(self, image: torch.Tensor) -> torch.Tensor:
        """A (B, C, H, W) input in the memory layout the network runs in."""
        return image.contiguous(memory_format=torch.channels_last) if self.channels_last else image

    def prepare(self, module: torch.nn.Module) -> torch.nn.Module:
        """Put ``module``'s weights in this runtime's memory layout (in place)."""
        return module.to(memory_format=torch.channels_last if self.channels_last else torch.contiguous_format)

    def compiled(self, function: Callable) -> Callable:
        """``function`` through torch.compile when asked for, else itself."""
        if not self.compile:
            return function
        return torch.compile(function, dynamic=False)


def default_runtime(device: torch.device | str = "cpu") -> Runtime:
    return Runtime(device=torch.device(device), precision=Precision.FP32, channels_last=False)


def native_bf16(device: torch.device) -> bool:
    """Whether ``device`` computes bf16 natively: a CUDA GPU with bf16, or a CPU with AMX / AVX-512 bf16 (oneDNN's test)."""
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    return device.type == "cpu" and bool(torch.ops.mkldnn._is_mkldnn_bf16_supported())


def resolve_runtime(precision: Precision, device: torch.device, *, compile: bool = False) -> Runtime:
    """The runtime for ``device``: AUTO means bf16 on a CUDA GPU that has it, float32 elsewhere.

    channels_last on CUDA (cuDNN's tensor-core convolutions want NHWC); cuDNN
    autotunes its convolution algorithms for the (fixed) frame size. The CPU
    stays NCHW: oneDNN's channels_last convolutions round differently with
    the number of threads, and on the CPU a frame must not depend on how many
    threads (or Ray workers) made it (resume, --workers); benchmarks/bench.py
    measures what NHWC would gain there. bf16 stays NCHW on a CPU too,
    though NHWC is faster there (a VGG16 bf16 step 0.73-0.81x the time on
    this project's AMD EPYC, 2026-12-08): fast mode's bf16 keyframes in NHWC
    came out different in a killed run and an uninterrupted one, both on one
    thread (tests/pipeline/test_fast_mode.py), and a resume must match.
    """
    precision = Precision(precision)
    if precision is Precision.AUTO:
        # Not on a CPU, even one with native bf16: there bf16 convolutions round differently
        # with the thread count, and the optimizer's frames must not (resume, --workers).
        precision = Precision.BF16 if device.type == "cuda" and native_bf16(device) else Precision.FP32
    if precision is Precision.BF16 and device.type == "mps":
        raise UsageError("--precision bf16 is not supported on MPS; use --precision fp32 or --device cpu.")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    return Runtime(device=device, precision=precision, channels_last=device.type == "cuda", compile=compile)
