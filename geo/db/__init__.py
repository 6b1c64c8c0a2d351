"""Storage: engines and sessions, the SpatiaLite/PostGIS seam, schema migrations, revisions, bulk writes."""
