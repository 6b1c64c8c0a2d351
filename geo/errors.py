"""Errors the spatial core raises for bad input. The API maps them to 4xx, the CLI to exit codes."""


class WanggeError(Exception):
    """Base class: the message is written for the person who has to fix the input."""


class InputError(WanggeError):
    """Input that cannot be used as given (bad file, field, value or geometry)."""


class UnknownCRS(InputError):
    pass


class NotFound(WanggeError):
    pass


class Conflict(WanggeError):
    pass
