"""How a BoTorch step runs torch: its thread count and its warnings.

Both are process-wide settings, so each is changed for one proposal only and
restored after it, whatever the proposal raised.
"""

from __future__ import annotations

import warnings
from collections.abc import Iterator
from contextlib import contextmanager

import torch
from botorch.exceptions.warnings import BotorchWarning
from linear_operator.utils.warnings import NumericalWarning


@contextmanager
def torch_threads(num_threads: int | None) -> Iterator[None]:
    """Run with `num_threads` torch threads (None: leave the count alone),
    restoring the previous count after."""
    if num_threads is None:
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


@contextmanager
def quiet() -> Iterator[None]:
    """Silence BoTorch's numerical chatter (jitter, restarts); failures still raise."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", BotorchWarning)
        warnings.simplefilter("ignore", NumericalWarning)
        yield
