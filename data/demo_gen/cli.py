"""Command line: build the demo, check it, write it and print what was written."""

from __future__ import annotations

import argparse
from collections import Counter
from collections.abc import Iterable
from pathlib import Path

from .checks import verify
from .community import load_boundary_wgs84
from .demo import Demo, build_demo
from .facts import COMMUNITY_NAME, OUT_DIR
from .writing import write_all


def tally(values: Iterable[str]) -> str:
    """Counts in order of first appearance, e.g. "estate_building 61, old_building 235"."""
    return ", ".join(f"{k} {n}" for k, n in Counter(values).items())


def print_summary(demo: Demo, out_dir: Path, paths: list[Path], topology_ok: bool) -> None:
    community, buildings = demo.community, demo.buildings
    one_grid = sum(e.grid.geom.contains(e.geom) for e in demo.estates)
    print(f"{COMMUNITY_NAME} ({demo.code}) demo written to {out_dir}")
    print(f"  community   1 feature, {len(community.exterior.coords) - 1} vertices")
    print(f"  grids       {len(demo.grids)}")
    print(f"  estates     {len(demo.estates)} ({one_grid} wholly inside one grid)")
    print(f"  buildings   {len(buildings)} ({tally(b.kind for b in buildings)})")
    print(f"  responders  {len(demo.responders)} ({tally(r.role for r in demo.responders)})")
    print(f"  incidents   {len(demo.incidents)} ({tally(i.kind for i in demo.incidents)})")
    print(f"  components  {len(demo.components)} ({tally(c.code[6:10] for c in demo.components)})")
    print(f"  households  {sum(b.households for b in buildings):,}, residents {sum(b.residents for b in buildings):,}")
    print(f"  topology    {'OK' if topology_ok else 'FAILED'}: grids cover the community, no gaps, no overlaps")
    print(f"  size        {sum(p.stat().st_size for p in paths):,} bytes in {len(paths)} files")


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Generate the synthetic demo community as GeoJSON.")
    parser.add_argument("--out", type=Path, default=OUT_DIR, help=f"output folder (default {OUT_DIR})")
    out_dir = parser.parse_args(argv).out
    district = load_boundary_wgs84()
    demo = build_demo(district)
    report = verify(demo, district)
    paths = write_all(out_dir, demo)
    print_summary(demo, out_dir, paths, report.ok)
