"""How fast this host runs the kind of work a BoTorch proposal is made of.

    python -m bench.host_speed

The CPU seconds the benchmarks print depend on the host as much as on our
code: the same code and seeds measured 0.144 s per BO trial at 40
observations one hour and 0.21 s the next on the same machine, and 0.52 s on
the next day's host. So `bench.bo_quality` prints this figure beside its CPU
columns: the CPU seconds of a fixed workload that does not change with our
code, many small torch operations with autograd on a 40-point Gaussian
process (what a proposal spends its time on: `bench/README.md`, issue 16),
plus a pure-Python loop (the interpreter overhead around them). Two CPU
figures compare across hosts only in proportion to their reference figures.
"""

from __future__ import annotations

import time

import torch

#: Repetitions of the kernel-solve-gradient step; the Python loop's length.
STEPS = 300
LOOP = 1_000_000


def _gp_steps(steps: int) -> float:
    """`steps` RBF-kernel posterior means at 8 points with their gradient (40 x 6 data)."""
    generator = torch.Generator().manual_seed(0)
    X = torch.rand(40, 6, generator=generator, dtype=torch.double)
    y = torch.rand(40, 1, generator=generator, dtype=torch.double)
    K = torch.exp(-0.5 * torch.cdist(X, X).square() / 0.1) + 1e-6 * torch.eye(40, dtype=X.dtype)
    L = torch.linalg.cholesky(K)
    alpha = torch.cholesky_solve(y, L)
    total = 0.0
    for _ in range(steps):
        x = torch.rand(8, 6, generator=generator, dtype=torch.double).requires_grad_(True)
        k = torch.exp(-0.5 * torch.cdist(x, X).square() / 0.1)
        mean = (k @ alpha).sum()
        var = (1 - (torch.linalg.solve_triangular(L, k.T, upper=False) ** 2).sum(0)).sum()
        (mean + var).backward()
        total += float(x.grad.sum())  # type: ignore[union-attr]
    return total


def _python_loop(n: int) -> int:
    total = 0
    for i in range(n):
        total += i % 7
    return total


def reference_cpu_seconds(repeats: int = 3) -> float:
    """The fewest CPU seconds of `repeats` runs of the fixed workload (the least
    disturbed run is the host's speed), on one torch thread as a proposal runs
    (`BoTorchGenerator(num_threads=1)`): with two, OpenMP's waiting threads
    count as CPU time whenever the other core is busy."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        best = float("inf")
        for _ in range(repeats):
            start = time.process_time()
            _gp_steps(STEPS)
            _python_loop(LOOP)
            best = min(best, time.process_time() - start)
    finally:
        torch.set_num_threads(threads)
    return best


def main() -> None:
    print(f"host reference: {reference_cpu_seconds():.3f} CPU s (bench/host_speed.py)")


if __name__ == "__main__":
    main()
