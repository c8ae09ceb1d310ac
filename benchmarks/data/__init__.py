"""Datasets in COCO form: the synthetic default, converters from real formats, corruption."""
