"""What a run ran on: versions and hardware, recorded so a result can be reproduced or doubted."""

from __future__ import annotations

import os
import platform
import sys
from importlib import metadata

from traitrl.report.schema import Environment

# The packages whose versions change results (numerics, trainer defaults, sampling).
PACKAGES: tuple[str, ...] = (
    "traitrl", "torch", "transformers", "trl", "peft", "accelerate", "datasets", "tokenizers",
    "numpy", "scipy",
)


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _torch_device() -> tuple[str | None, int | None]:
    """(device, intra-op threads) from torch, or (None, None) when torch is not installed."""
    try:
        import torch
    except ImportError:
        return None, None
    device = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return device, torch.get_num_threads()


def collect_environment(*, probe_torch: bool = True) -> Environment:
    """Versions from package metadata (no imports), plus device and threads from torch.

    `probe_torch=False` skips importing torch (about a second) where the device is not needed,
    e.g. in tests.
    """
    device, threads = _torch_device() if probe_torch else (None, None)
    return Environment(
        python=platform.python_version(),
        platform=f"{platform.system()} {platform.release()} ({platform.machine()})",
        packages={name: _version(name) for name in PACKAGES},
        device=device,
        cpu_count=len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        threads=threads,
    )


if __name__ == "__main__":  # a quick look: python -m traitrl.report.environment
    sys.stdout.write(collect_environment().model_dump_json(indent=2) + "\n")
