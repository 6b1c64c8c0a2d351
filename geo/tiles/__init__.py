"""Vector tiles (Mapbox Vector Tile 2.1) of the layers, in the WebMercatorQuad tiling scheme.

``matrix``: the tile matrix set and a tile's envelope; ``layers``: what each layer carries in
tiles; ``encode``: one tile of one or more layers, built by PostGIS (``ST_AsMVT``) or in Python
(SpatiaLite, and GCJ-02 tiles on both databases); ``service``: the tile for a request, its
revision stamp (ETag) and the on-disk cache. No HTTP here: api/ogc/tiles.py serves them.
"""
