"""Max-pooling through PyTorch's channels-last kernel in no-grad CPU passes: bit-identical, less time.

PyTorch's CPU max-pool kernel for NCHW tensors is about five times slower than its channels-last
kernel: 2.9 ms against 0.6 ms for the forward of a batch of 8 tiny-ResNet stems (16 x 64 x 64, one
thread). No-grad passes are many: every per-epoch probe, the final evaluation, and the teacher
forwards of ELDET (one or two per iteration) and BCKD (one); ``python -m benchmarks.speed.max_pool``
times the tiny backbone's no-grad forward of a probe batch 1.29x faster with this module (70.0 ->
54.2 ms). With autograd on the module is a plain ``nn.MaxPool2d``: inside the network the
channels-last backward made a training step slower (0.958x), so training runs exactly the kernels it
ran before.

Why the numbers do not change: the forward value is a max over the same window elements whatever
the memory order, and the output goes back to the contiguous NCHW layout, so every later layer
runs exactly as before. (Both kernels also pick the same element of a tied window, so even the
gradients would agree; ``tests/test_inference_pool.py`` checks values, indices and gradients on
tie-heavy inputs, and trains cells with and without the module to bit-identical weights, probe
rows and detections.) CUDA tensors and ``return_indices`` keep the plain path.
"""

from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F


class ChannelsLastMaxPool2d(nn.MaxPool2d):
    """``nn.MaxPool2d`` whose no-grad CPU forward pools a channels-last copy (contiguous NCHW result)."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if torch.is_grad_enabled() or self.return_indices or x.device.type != "cpu" or x.dim() != 4:
            return super().forward(x)
        y = F.max_pool2d(
            x.contiguous(memory_format=torch.channels_last),
            self.kernel_size,
            self.stride,
            self.padding,
            self.dilation,
            ceil_mode=self.ceil_mode,
        )
        return y.contiguous()


def install(model: nn.Module) -> int:
    """Swap every plain ``nn.MaxPool2d`` of ``model`` (teachers included) for the channels-last one.

    Returns how many were swapped. The module keeps its attributes and has no parameters or
    buffers, so state dicts, checkpoints and printed configs are unchanged.
    """
    count = 0
    for module in model.modules():
        if type(module) is nn.MaxPool2d:
            module.__class__ = ChannelsLastMaxPool2d
            count += 1
    return count
