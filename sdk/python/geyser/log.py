"""Log lines the tenant reads with ``geyser logs`` (per invocation, with their level)."""

from wit_world.imports import logging as _logging


def _log(level: str, message: str) -> None:
    _logging.log(getattr(_logging.Level, level), str(message))


def trace(message: str) -> None:
    _log("TRACE", message)


def debug(message: str) -> None:
    _log("DEBUG", message)


def info(message: str) -> None:
    _log("INFO", message)


def warn(message: str) -> None:
    _log("WARN", message)


def error(message: str) -> None:
    _log("ERROR", message)
