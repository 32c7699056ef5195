"""Error types that carry a message a user can act on (which file, row or config key is wrong)."""


class SynthliftError(Exception):
    """Base class: anything raised on purpose by synthlift, as opposed to a bug."""


class ConfigError(SynthliftError):
    """A config value is impossible; the message names the key."""


class DataError(SynthliftError):
    """Input data is missing or malformed; the message names the file, column or row."""


class GANDivergedError(SynthliftError):
    """A GAN loss became NaN/inf: the run is recorded as failed, the sweep goes on."""
