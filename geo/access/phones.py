"""Phone numbers shown masked: ``138****1234``."""

from __future__ import annotations


def mask_phone(phone: str | None) -> str | None:
    """The first 3 and last 4 digits of a number of 8 digits or more (a mobile 138****1234, a
    landline 076*-***1234); of a shorter one the last 2; of 4 digits or fewer none. Separators
    stay, so the number keeps its shape."""
    if not phone:
        return phone
    digits = [i for i, c in enumerate(phone) if c.isdigit()]
    n = len(digits)
    head, tail = (3, 4) if n >= 8 else (0, 2) if n >= 5 else (0, 0)
    hidden = set(digits[head : n - tail])
    if n < 5:  # no digits worth keeping: hide every character, not only digits
        hidden = set(range(len(phone)))
    return "".join("*" if i in hidden else c for i, c in enumerate(phone))
