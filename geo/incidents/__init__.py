"""Incidents: the workflow engine and its definitions, geotagging, duplicates, escalation."""
