"""Reading layers: filters, features, map points, statistics."""
