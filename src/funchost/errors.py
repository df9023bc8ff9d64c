"""Errors that funchost reports to users as one line."""


class ConfigError(Exception):
    """A file or setting the user wrote is invalid; the message names it."""


class FunctionLoadError(Exception):
    """One function could not be loaded; the others still run."""
