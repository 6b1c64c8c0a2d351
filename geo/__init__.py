"""wangge's spatial core: storage, spatial functions, the domain rules and files in and out.

Nothing in this package knows about HTTP or HTML. Importing it has no side effects: the
session hooks (geotagging, revision counters) live on wangge's own sessions (geo.db.session).
"""
