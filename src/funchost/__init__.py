"""funchost: a pure-Python host for Azure Functions Python apps."""

from funchost.errors import ConfigError

__version__ = "0.1.0"

__all__ = ["ConfigError", "__version__"]
