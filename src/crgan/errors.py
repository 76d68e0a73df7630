"""Errors users can act on: each message names the file, key or folder at fault."""


class CrganError(Exception):
    """Base class: the CLI prints these as one line and exits with status 2."""


class ConfigError(CrganError):
    """The configuration has an unknown key, a wrong type or a value out of range."""


class DatasetError(CrganError):
    """A dataset folder, file name, image or count is not what was expected."""


class WeightsError(CrganError):
    """A weights file is missing or does not fit the architecture."""


class CheckpointError(CrganError):
    """A resume checkpoint exists but neither it nor the previous one can be read."""


class DivergenceError(CrganError):
    """A training loss became NaN or infinite; the message names the step."""


class TrainingInterrupted(CrganError):
    """Training stopped on request (SIGTERM) after writing a checkpoint; rerunning resumes it."""
