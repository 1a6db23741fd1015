"""Generation: Sobol initialization, model-based steps, and the strategy walking them."""

from scheduler.generation import botorch_step as _botorch  # noqa: F401  (registers "BoTorch")
from scheduler.generation import sobol as _sobol  # noqa: F401  (registers "Sobol")
from scheduler.generation.base import (
    GenerationContext,
    Generator,
    register_generator,
    registered_generators,
)
from scheduler.generation.botorch_step import BoTorchGenerator
from scheduler.generation.dispatch import choose_generation_strategy
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
