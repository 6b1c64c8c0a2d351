"""Grids: the point-in-grid lookup index and the grid card (leader, workers, counts)."""
