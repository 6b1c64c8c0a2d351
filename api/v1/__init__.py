"""The JSON API, version 1: one router module per family of endpoints.

Only the prefix lives here, so that the maps and the tests can import it without loading the
routers (and without an import cycle).
"""

API_PREFIX = "/api/v1"
