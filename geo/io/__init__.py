"""Files in and out: reading, the importers, export, the demo community."""
