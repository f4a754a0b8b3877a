"""One error family: the CLI maps it to a one-line message and exit code 1."""


class FlywheelError(Exception):
    """Base of every error a user can cause and fix."""


class InputError(FlywheelError, ValueError):
    """A file, value or option that Flywheel cannot accept as given."""


class UnknownFormatError(InputError):
    """No adapter recognises a file's header."""


class ConfigError(FlywheelError, ValueError):
    """Settings that contradict each other or point nowhere."""


class EngineError(FlywheelError):
    """The chosen warehouse engine is missing or cannot do what was asked."""


class WarehouseError(FlywheelError):
    """A warehouse that cannot be opened as given: a path that cannot be created, a file locked by
    another process, a file that is not a warehouse, or one written by a newer Flywheel."""
