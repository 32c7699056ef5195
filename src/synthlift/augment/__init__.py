"""How synthetic examples join the real training set: one strategy per module, chosen by `conf/augment/*.yaml`."""
