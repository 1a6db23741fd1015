"""Which Hartmann6 basin each seed's initial design points the model to.

    python -m bench.design_basins [--seeds 120] [--design-size N] [--gaps FILE ...]

A Hartmann6@40 run nearly always refines the basin of the best point of its
initial design (the center, then Sobol points; no model involved): with a
design of 8, over seeds 0-119, 23 of the 27 seeds whose best design point
lies nearer the second minimizer (f = -3.20) ended stuck there, against 3 of
the other 93 (`bench/README.md`, issue 16, fifth round). So the seeds printed
here as "wrong basin" are the ones an escape rule must rescue, and the rest
the ones it must not lose: a variant can be screened on them before a
120-seed run. The design is the default's (`default_design_size`) unless
`--design-size` gives its size.

`--gaps` reads `bench.bo_quality --verbose` output (`seed:gap` pairs) and
cross-tabulates stuck runs (gap > 0.1) against the design's basin.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

import torch
from botorch.test_functions.synthetic import Hartmann

from bench.bo_quality import STUCK_GAP
from bench.problems import Problem, hartmann6
from scheduler import Data
from scheduler.generation import GenerationContext, SobolGenerator
from scheduler.generation.defaults import default_design_size

#: Hartmann6's global minimizer (f = -3.32237, BoTorch's) and its second basin's
#: (f = -3.20316).
GLOBAL_MINIMIZER = Hartmann(dim=6).optimizers[0]
SECOND_MINIMIZER = torch.tensor([0.4047, 0.8824, 0.8461, 0.5739, 0.1389, 0.0385])


def design_points_wrong_basin(problem: Problem, seed: int, size: int | None = None) -> bool:
    """Whether the best point of `seed`'s initial design for the Hartmann6
    `problem` lies nearer the second minimizer than the global one (the design
    `choose_generation_strategy` makes: the center, then Sobol; `size` trials,
    by default `default_design_size`)."""
    space = problem.search_space
    sobol = SobolGenerator(space, seed=seed, center_first=True)
    size = size or default_design_size(len(space.parameters))
    arms = sobol.gen(size, GenerationContext(space, None, [], Data()))
    best = min(arms, key=lambda arm: problem.evaluate(arm)["hartmann6"][0])
    x = torch.tensor([float(best[f"x{i + 1}"]) for i in range(6)])  # type: ignore[arg-type]
    return float((x - SECOND_MINIMIZER).norm()) < float((x - GLOBAL_MINIMIZER).norm())


def read_gaps(paths: list[Path]) -> dict[int, float]:
    """Every `seed:gap` pair on the `gaps (seed:gap):` lines of these files."""
    gaps: dict[int, float] = {}
    for path in paths:
        for line in path.read_text().splitlines():
            if "gaps (seed:gap):" in line:
                gaps.update({int(s): float(g) for s, g in re.findall(r"(\d+):([\d.]+)", line)})
    return gaps


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--seeds", type=int, default=120, help="seeds 0..N-1")
    parser.add_argument("--gaps", type=Path, nargs="*", default=[], metavar="FILE")
    parser.add_argument(
        "--design-size", type=int, default=None, help="initial trials (default: the strategy's)"
    )
    args = parser.parse_args(argv)
    problem = hartmann6()
    wrong = {s: design_points_wrong_basin(problem, s, args.design_size) for s in range(args.seeds)}
    print(
        f"wrong basin ({sum(wrong.values())} of {args.seeds}):",
        ",".join(str(s) for s, w in wrong.items() if w),
    )
    gaps = read_gaps(args.gaps)
    if not gaps:
        return
    for label, side in (("wrong basin", True), ("global basin", False)):
        seeds = [s for s in gaps if wrong.get(s) is side]
        stuck = [s for s in seeds if gaps[s] > STUCK_GAP]
        print(f"{label}: {len(stuck)} of {len(seeds)} runs stuck ({','.join(map(str, stuck))})")


if __name__ == "__main__":
    main()
