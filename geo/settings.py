"""Settings read from the environment (prefix ``WANGGE_``) or a ``.env`` file."""

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WANGGE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///wangge.db",
        description="sqlite:///PATH for an embedded SpatiaLite file, postgresql://... for PostGIS",
    )
    # Snapping tolerance for topology checks, in metres: slivers thinner than this are noise.
    topology_tolerance_m: float = 0.05
    # How stale another process's grid or responder changes may be in this process's indexes.
    index_check_interval_s: float = 1.0
    # Largest request body the API reads (a batch of a million points is about 40 MB of JSON).
    max_body_bytes: int = 64 * 1024 * 1024
    # Optional TOML file overriding workflow deadlines (same layout as geo/workflows.toml).
    workflows_file: str | None = None
    # A new report this close to an open one of the same kind and category may be a duplicate.
    duplicate_radius_m: float = 50.0
    # How often the server looks for overdue incidents to escalate (0: never; run `wangge escalate`).
    escalation_interval_s: float = 60.0
    host: str = "127.0.0.1"
    port: int = 8000
    # Maps (maps/): basemaps and where the front-end assets are installed.
    tianditu_key: str | None = None  # Tianditu's vec_w/cva_w layers are offered only with a key
    tile_url: str | None = None  # a self-hosted tile server, e.g. http://tiles.local/{z}/{x}/{y}.png
    tile_attribution: str = "self-hosted tiles"
    tile_crs: str = "wgs84"  # wgs84 (Web Mercator tiles like OSM) or gcj02 (tiles drawn like Amap's)
    map_assets_dir: str | None = None  # default: maps/assets/node_modules (filled by npm ci)


@lru_cache
def get_settings() -> Settings:
    return Settings()
