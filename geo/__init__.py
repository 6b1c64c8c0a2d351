"""wangge spatial core: models, databases, coordinate systems, lookups, import/export.

Nothing in this package knows about HTTP or HTML.
"""

# The flush hooks (geotagging, revision counters) must be registered before any session is
# used; importing any part of the package registers them.
from geo import geotag, revisions  # noqa: E402,F401
