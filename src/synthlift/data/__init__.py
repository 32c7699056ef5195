"""The `dataset` group: each track's datasets (`data/text`, `data/image`), their splits, and the examples the
augment strategies see."""
