"""The errors the SDK raises: each names what failed, in plain words."""


class GeyserError(Exception):
    """A host capability refused a call."""


class KvError(GeyserError):
    """A kv call failed. ``kind`` is one of ``invalid-key``, ``value-too-large``,
    ``not-a-number``, ``unavailable`` (retry may help) and ``quota-exceeded``."""

    def __init__(self, kind: str, message: str):
        super().__init__(f"kv {kind}: {message}")
        self.kind = kind
        self.message = message


class PublishError(GeyserError):
    """Publishing failed (unknown topic, no broker on the node, ...)."""


class ConfigError(GeyserError):
    """The function's configuration could not be read."""
