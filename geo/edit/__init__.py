"""Writing layers: create, update and delete features with their checks."""
