"""Generation: Sobol initialization, model-based steps, and the strategy walking them."""

from typing import Any

from scheduler.generation import sobol as _sobol  # noqa: F401  (registers "Sobol")
from scheduler.generation.base import (
    GenerationContext,
    Generator,
    register_generator,
    registered_generators,
)
from scheduler.generation.defaults import choose_generation_strategy
from scheduler.generation.sobol import SobolGenerator
from scheduler.generation.strategy import (
    GenerationStep,
    GenerationStrategy,
    GeneratorRun,
    Models,
)

__all__ = [
    "BoTorchGenerator",
    "GenerationContext",
    "GenerationStep",
    "GenerationStrategy",
    "Generator",
    "GeneratorRun",
    "Models",
    "SobolGenerator",
    "choose_generation_strategy",
    "register_generator",
    "registered_generators",
]


def _botorch_generator(search_space: Any, seed: int | None = None, **kwargs: Any) -> Generator:
    """Build the BoTorch generator, importing torch only when a BO step first runs.

    Importing torch and BoTorch takes seconds; CLI commands such as `status`
    or `--help`, and worker hosts, should not pay for it.
    """
    from scheduler.generation.botorch.generator import BoTorchGenerator

    return BoTorchGenerator(search_space, seed=seed, **kwargs)


register_generator("BoTorch", _botorch_generator)


def __getattr__(name: str) -> Any:
    if name == "BoTorchGenerator":
        from scheduler.generation.botorch.generator import BoTorchGenerator

        return BoTorchGenerator
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
