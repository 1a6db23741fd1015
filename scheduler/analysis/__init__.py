"""Reading an experiment's results: the best point (GP-predicted for noisy data),
the Pareto set, one-row-per-trial frames and trace plots."""
