"""`SchedulerOptions.logging_level` and `log_filepath` applied to the "scheduler" logger.

Ax's Scheduler sets its logger's level from its options and adds a file
handler for `log_filepath`; so does this one. A handler for the same file is
added once per process, however many schedulers are built.
"""

from __future__ import annotations

import logging
import os

from scheduler.options import SchedulerOptions

LOGGER_NAME = "scheduler"


def configure_logger(options: SchedulerOptions) -> logging.Logger:
    """Set the "scheduler" logger's level; add a file handler for `log_filepath`."""
    logger = logging.getLogger(LOGGER_NAME)
    logger.setLevel(options.logging_level)
    if options.log_filepath is not None:
        path = os.path.abspath(options.log_filepath)
        for handler in logger.handlers:
            if isinstance(handler, logging.FileHandler) and handler.baseFilename == path:
                break
        else:
            handler = logging.FileHandler(path)
            handler.setFormatter(
                logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
            )
            logger.addHandler(handler)
    return logger
