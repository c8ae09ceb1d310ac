"""noisy-det-repro: what is trained (data, detectors, methods, grids, one training cell)."""
