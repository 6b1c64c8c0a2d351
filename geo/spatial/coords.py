"""Checks on coordinates sent by people and phones, with messages they can act on."""

from __future__ import annotations

import math

import numpy as np

from geo.errors import InputError


def _swap_hint(lon: float, lat: float) -> str:
    if abs(lat) > 90 and abs(lat) <= 180 and abs(lon) <= 90:
        return f"; it looks like longitude and latitude are swapped (did you mean lon={lat:g}, lat={lon:g}?)"
    return ""


def check_lonlat(lon: float, lat: float, where: str = "") -> None:
    """Refuse a WGS84-style coordinate that is not finite or out of range."""
    prefix = f"{where}: " if where else ""
    for name, value in (("lon", lon), ("lat", lat)):
        if value is None or not math.isfinite(value):
            raise InputError(f"{prefix}{name} must be a finite number, got {value!r}")
    if not -180 <= lon <= 180 or not -90 <= lat <= 90:
        bad = "lat" if not -90 <= lat <= 90 else "lon"
        allowed = "-90..90" if bad == "lat" else "-180..180"
        raise InputError(
            f"{prefix}{bad} {lat if bad == 'lat' else lon:g} is out of range ({allowed}){_swap_hint(lon, lat)}"
        )


def check_lonlat_array(lon: np.ndarray, lat: np.ndarray) -> None:
    """The same check for a batch; the message names the first bad point (counted from 0)."""
    bad = ~(np.isfinite(lon) & np.isfinite(lat) & (np.abs(lon) <= 180) & (np.abs(lat) <= 90))
    if bad.any():
        i = int(np.flatnonzero(bad)[0])
        count = int(bad.sum())
        more = f" ({count - 1} more bad points)" if count > 1 else ""
        try:
            check_lonlat(float(lon[i]), float(lat[i]), f"point {i}")
        except InputError as exc:
            raise InputError(f"{exc}{more}") from None
