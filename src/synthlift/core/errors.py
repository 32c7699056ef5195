"""Error types that carry a message a user can act on (which file, row or config key is wrong)."""


class SynthliftError(Exception):
    """Base class: anything raised on purpose by synthlift, as opposed to a bug."""


class ConfigError(SynthliftError):
    """A config value is impossible; the message names the key."""


class DataError(SynthliftError):
    """Input data is missing or malformed; the message names the file, column or row."""


class GANDivergedError(SynthliftError):
    """A GAN blew up (a NaN, infinite or huge loss, or samples far outside the data): the run is recorded as
    failed with the reason, the sweep goes on."""


class InvalidArgument(ConfigError):
    """A component's constructor argument is impossible. The component names only its argument;
    `synthlift.core.build.build` puts the config key in front (`gan.lr_generator=-1 is invalid: ...`)."""

    def __init__(self, argument: str, value: object, expected: str):
        self.argument, self.value, self.expected = argument, value, expected
        super().__init__(self.render())

    def render(self) -> str:
        return f"{self.argument}={self.value!r} is invalid: expected {self.expected}"


class DegenerateResultError(SynthliftError):
    """A stage produced something no lift should be measured on (e.g. an augmented model that predicts a
    single class): the run is recorded as failed with the reason rather than reported as a result."""


class ResourceLimitError(InvalidArgument):
    """A size that cannot fit in this machine's memory, or beyond a documented cap, refused before anything
    is allocated (`synthlift.core.resources`): otherwise the kernel's out-of-memory killer ends the job with no
    message and no record. `reason` carries the estimate, the limit and what to lower."""

    def __init__(self, argument: str, value: object, reason: str):
        self.reason = reason
        super().__init__(argument, value, reason)

    def render(self) -> str:
        return f"{self.argument}={self.value!r} is too large: {self.reason}"
