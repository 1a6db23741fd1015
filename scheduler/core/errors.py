"""Named errors for mistakes a user can make.

Every message says what to change; none of these should ever surface as a
bare KeyError or ValueError from deep inside the library.
"""


class BoSchedulerError(Exception):
    """Base class of every error bo-scheduler raises on purpose."""


class InvalidParameterError(BoSchedulerError, ValueError):
    """A parameter definition is inconsistent (bounds, log scale, values)."""


class InvalidSearchSpaceError(BoSchedulerError, ValueError):
    """A search space or parameter constraint does not make sense."""


class OutOfSearchSpaceError(BoSchedulerError, ValueError):
    """A parameterization lies outside the search space."""


class InvalidOptimizationConfigError(BoSchedulerError, ValueError):
    """Objectives or outcome constraints are inconsistent."""


class InvalidDataError(BoSchedulerError, ValueError):
    """A `Data` frame lacks required columns or holds unusable values."""


class MissingMetricError(BoSchedulerError, LookupError):
    """Fetched data lacks a metric the optimization config needs."""


class InvalidRunMetadataError(BoSchedulerError, TypeError):
    """A runner returned run metadata that is not a JSON-like dict."""


class InvalidTrialTransitionError(BoSchedulerError, RuntimeError):
    """A trial was asked to move to a status its lifecycle does not allow."""


class InvalidSchedulerOptionsError(BoSchedulerError, ValueError):
    """A `SchedulerOptions` field holds a nonsensical value."""


class GenerationError(BoSchedulerError, RuntimeError):
    """The generation strategy cannot propose (more) trials."""


class FailureRateExceededError(BoSchedulerError, RuntimeError):
    """Too many trials failed: the optimization stops to save the fleet."""


class NoBaselineError(BoSchedulerError, ValueError):
    """An improvement over a baseline was asked for without a usable baseline arm."""


class NoBestPointError(BoSchedulerError, ValueError):
    """A best point was asked for an objective or constraints the data cannot answer."""
