"""One batch-locate method in a fresh process, for its time and its peak memory.

    python -m bench.api_inproc wangge DATABASE_URL DATA_NPZ OUT_NPY
    python -m bench.api_inproc sjoin DATA_NPZ OUT_NPY

``wangge``: the grid index the server uses (``geo.grids.index.grid_index``, built from the database),
then the timed call: ``index.locate(lon, lat)`` and the code lookup, exactly what the batch
endpoint does after parsing its body.
``sjoin``: GeoDataFrames of the same grid polygons and the same points, then the timed call:
``geopandas.sjoin(points, grids, predicate="within")``.

Peak memory: the process's resident-set high-water mark (VmHWM), reset just before the timed
call (``/proc/self/clear_refs``), so "peak" is the most the process held during the call and
"delta" the most it held above what it held before the call. Prints one JSON line; writes
each point's grid code ("" for none) to OUT_NPY.
"""

from __future__ import annotations

import gc
import json
import sys
import time

import numpy as np


def _status_kb(field: str) -> int:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return -1


def _reset_hwm() -> bool:
    try:
        with open("/proc/self/clear_refs", "w") as f:
            f.write("5")
        return True
    except OSError:
        return False


def _measure(call):
    gc.collect()
    before = _status_kb("VmRSS")
    reset = _reset_hwm()
    t = time.perf_counter()
    result = call()
    seconds = time.perf_counter() - t
    peak = _status_kb("VmHWM")
    return result, {
        "seconds": seconds,
        "rss_before_mb": before / 1024,
        "peak_rss_mb": peak / 1024,
        "peak_delta_mb": (peak - before) / 1024,
        "hwm_reset": reset,
    }


def run_wangge(url: str, data_npz: str, out: str) -> dict:
    from geo.db.engine import make_engine
    from geo.db.session import session_factory
    from geo.grids.index import grid_index

    z = np.load(data_npz, allow_pickle=True)
    lon, lat = z["q_lon"], z["q_lat"]
    engine = make_engine(url)
    session = session_factory(engine)()
    t = time.perf_counter()
    index = grid_index(session)
    build_s = time.perf_counter() - t
    session.close()

    def call():
        pos = index.locate(lon, lat)
        return np.where(pos >= 0, index.codes[np.maximum(pos, 0)] if index.codes.size else None, None)

    codes, m = _measure(call)
    np.save(out, np.array([c or "" for c in codes.tolist()], dtype="U"))
    return {
        "method": "wangge",
        "index_build_s": build_s,
        **m,
        "points": int(lon.size),
        "located": int(sum(c is not None for c in codes.tolist())),
    }


def run_sjoin(data_npz: str, out: str) -> dict:
    import geopandas as gpd

    z = np.load(data_npz, allow_pickle=True)
    lon, lat = z["q_lon"], z["q_lat"]
    t = time.perf_counter()
    grids = gpd.GeoDataFrame(
        {"code": z["grid_codes"].astype(str)}, geometry=gpd.GeoSeries.from_wkb(z["grid_wkb"]), crs=4326
    )
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(lon, lat), crs=4326)
    build_s = time.perf_counter() - t

    joined, m = _measure(lambda: gpd.sjoin(points, grids, predicate="within"))

    # One code per point, as wangge answers: the smallest code where several grids match.
    codes = np.full(lon.size, "", dtype=object)
    pairs = joined[["code"]].sort_values("code", kind="stable")
    first = ~pairs.index.duplicated(keep="first")
    codes[pairs.index[first].to_numpy()] = pairs["code"].to_numpy()[first]
    np.save(out, codes.astype("U"))
    return {
        "method": "sjoin",
        "gdf_build_s": build_s,
        **m,
        "points": int(lon.size),
        "matches": int(len(joined)),
        "located": int(first.sum()),
        "points_with_several_grids": int(pairs.index.duplicated().sum()),
        "geopandas": gpd.__version__,
    }


def main(argv: list[str]) -> int:
    if argv[0] == "wangge":
        result = run_wangge(argv[1], argv[2], argv[3])
    elif argv[0] == "sjoin":
        result = run_sjoin(argv[1], argv[2])
    else:
        raise SystemExit(__doc__)
    print("INPROC " + json.dumps(result), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
