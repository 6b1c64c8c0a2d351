"""WebMercatorQuad tile math, checked against PROJ."""

from __future__ import annotations

import pytest
from pyproj import Transformer

from geo.errors import InputError
from geo.tiles import matrix

TO_LONLAT = Transformer.from_crs("EPSG:3857", "EPSG:4326", always_xy=True)


@pytest.mark.parametrize(
    "z, x, y, message",
    [
        (25, 0, 0, "zoom"),
        (-1, 0, 0, "zoom"),
        (3, 8, 0, "column 8"),
        (3, 0, 8, "row 8"),
        (0, 0, -1, "row -1"),
    ],
)
def test_tiles_outside_the_matrix_are_refused_with_the_range(z, x, y, message):
    with pytest.raises(InputError, match=message):
        matrix.tile(z, x, y)


def test_the_zoom_0_tile_is_the_square_world():
    x0, y0, x1, y1 = matrix.tile(0, 0, 0).bounds()
    assert (x0, y0, x1, y1) == pytest.approx((-matrix.ORIGIN, -matrix.ORIGIN, matrix.ORIGIN, matrix.ORIGIN))
    west, south, east, north = matrix.tile(0, 0, 0).lonlat_bounds()
    assert (west, east) == pytest.approx((-180, 180))
    assert (south, north) == pytest.approx((-85.0511287798, 85.0511287798))


def test_a_tile_envelope_matches_proj_and_rows_count_from_the_north():
    tile = matrix.tile(14, 13337, 7102)
    x0, y0, x1, y1 = tile.bounds()
    assert x1 - x0 == pytest.approx(2 * matrix.ORIGIN / 2**14)
    west, south, east, north = tile.lonlat_bounds()
    assert (west, south) == pytest.approx(TO_LONLAT.transform(x0, y0), abs=1e-9)
    assert (east, north) == pytest.approx(TO_LONLAT.transform(x1, y1), abs=1e-9)
    below = matrix.tile(14, 13337, 7103).lonlat_bounds()
    assert below[3] == pytest.approx(south)  # the next row is south of this one


def test_the_buffer_widens_the_envelope_by_64_of_4096_units():
    tile = matrix.tile(10, 833, 442)
    x0, _, x1, _ = tile.bounds()
    bx0, _, bx1, _ = tile.buffered_bounds
    assert (x0 - bx0) / (x1 - x0) == pytest.approx(64 / 4096)
    assert (bx1 - x1) / (x1 - x0) == pytest.approx(64 / 4096)


def test_the_tile_at_a_point_holds_it_and_covering_tiles_hold_a_box():
    lon, lat = 113.05, 23.70
    tile = matrix.tile_at(lon, lat, 16)
    west, south, east, north = tile.lonlat_bounds()
    assert west <= lon < east and south <= lat < north
    box = (113.0, 23.65, 113.1, 23.75)
    tiles = matrix.tiles_covering(box, 12)
    assert matrix.tile_at(113.0, 23.75, 12) in tiles and matrix.tile_at(113.1, 23.65, 12) in tiles
    assert len(tiles) == len(set(tiles)) == 4


def test_the_tile_matrix_set_has_a_matrix_per_zoom():
    tms = matrix.tile_matrix_set()
    assert tms["id"] == "WebMercatorQuad"
    assert [m["id"] for m in tms["tileMatrices"]] == [str(z) for z in range(25)]
    z0, z10 = tms["tileMatrices"][0], tms["tileMatrices"][10]
    assert z0["cellSize"] == pytest.approx(156543.03392804097)
    assert z0["scaleDenominator"] == pytest.approx(559082264.0287178)
    assert z10["matrixWidth"] == z10["matrixHeight"] == 1024
