"""What machine a cell was trained on: the CPU and the kernel set torch dispatches to.

Why it is recorded: on CPU a rerun of a cell is bit-identical only on the same kind of processor.
torch and oneDNN pick their floating-point kernels by instruction set (AVX2, AVX-512, ...), and
different kernels round differently; 24 epochs amplify the last bits into different weights and a
different AP. The embedded default's recorded results (each method's ``metafile.yml``) therefore
name the host they were measured on, and every cell's ``metrics.json`` names its own.
"""

from __future__ import annotations

import platform
from pathlib import Path

CPUINFO = Path("/proc/cpuinfo")


def cpu_model(cpuinfo: Path = CPUINFO) -> str:
    """The processor's model name (``/proc/cpuinfo``; ``platform.processor()`` elsewhere)."""
    try:
        for line in cpuinfo.read_text(errors="replace").splitlines():
            key, _, value = line.partition(":")
            if key.strip() == "model name" and value.strip():
                return value.strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown"


def host_info() -> dict:
    """``cpu``, ``machine``, ``cpu_capability`` (torch's kernel set) and, with CUDA, ``cuda_device``."""
    import torch

    info = {
        "cpu": cpu_model(),
        "machine": platform.machine(),
        "cpu_capability": torch.backends.cpu.get_cpu_capability(),
    }
    if torch.cuda.is_available():
        info["cuda_device"] = torch.cuda.get_device_name(0)
    return info


def describe(host: dict) -> str:
    """One line for logs and messages, e.g. ``AMD EPYC (x86_64, AVX2 kernels)``."""
    text = f"{host.get('cpu', 'unknown CPU')} ({host.get('machine', '?')}, {host.get('cpu_capability', '?')} kernels)"
    return text + (f", {host['cuda_device']}" if host.get("cuda_device") else "")


def same_kernels(a: dict, b: dict) -> bool:
    """Whether two hosts run the same CPU kernels (same machine type, processor and kernel set)."""
    keys = ("machine", "cpu", "cpu_capability")
    return all(a.get(k) == b.get(k) for k in keys)
