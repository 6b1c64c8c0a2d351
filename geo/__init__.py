"""wangge spatial core: models, databases, coordinate systems, lookups, import/export.

Nothing in this package knows about HTTP or HTML.
"""
