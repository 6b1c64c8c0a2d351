"""Pure spatial functions, no session: coordinate systems, coordinates, geometry, cells, topology, codes, search."""
