"""Training one cell: config resolution, the suite's mmengine hooks, prediction export."""
