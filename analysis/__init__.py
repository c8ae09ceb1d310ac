"""noisy-det-repro: what is measured (COCO metrics, probes, transitions, TIDE, tables, plots)."""
