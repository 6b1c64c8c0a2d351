"""The HTML pages: the start page, the maps and the API docs (not in the OpenAPI document)."""
