"""Responders: the in-memory index and the nearest-responder search."""
