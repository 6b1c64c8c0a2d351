"""Errors the spatial core raises for bad input. The API maps them to 4xx, the CLI to exit codes."""


class WanggeError(Exception):
    """Base class: the message is written for the person who has to fix the input."""


class InputError(WanggeError):
    """Input that cannot be used as given (bad file, field, value or geometry)."""


class RowProblems(InputError):
    """A file with problems in some of its rows: each is listed (the first ``MAX_SHOWN``), under a heading."""

    MAX_SHOWN = 10

    def __init__(self, heading: str, problems: list[str]):
        self.problems = problems
        shown = problems[: self.MAX_SHOWN]
        text = heading + "\n" + "\n".join(f"  - {p}" for p in shown)
        if len(problems) > len(shown):
            text += f"\n  - ... and {len(problems) - len(shown)} more problem(s)"
        super().__init__(text)


class UnknownCRS(InputError):
    pass


class TooLarge(InputError):
    """More bytes than wangge takes (a 413 over HTTP)."""


class UnsupportedMedia(InputError):
    """A file of a type wangge does not take (a 415 over HTTP)."""


class BadQuery(WanggeError):
    """A question that cannot be answered as asked, e.g. a period that ends before it starts
    (a 400 over HTTP)."""


class NotFound(WanggeError):
    pass


class Conflict(WanggeError):
    pass


class PermissionDenied(WanggeError):
    """The actor may not do this (a 403 over HTTP)."""


class NotAuthenticated(WanggeError):
    """A token is needed, or the one given is not valid (a 401 over HTTP)."""


class StaleVersion(WanggeError):
    """The change was based on an older version of the record (a 412 over HTTP)."""

    precondition_required = False

    @classmethod
    def required(cls, current: str) -> "StaleVersion":
        exc = cls(f"Send If-Match: {current} (the ETag you read) so that no one else's change is overwritten")
        exc.precondition_required = True  # 428: the version was not sent at all
        return exc


class Locked(WanggeError):
    """Too many failed sign-ins: refused until ``retry_after_s`` has passed (a 429 over HTTP)."""

    def __init__(self, message: str, retry_after_s: int):
        super().__init__(message)
        self.retry_after_s = retry_after_s
