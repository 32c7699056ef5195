"""synthlift's Optuna sweeper (`hydra/sweeper=optuna_validation`), in the namespace where Hydra looks for plugins."""
