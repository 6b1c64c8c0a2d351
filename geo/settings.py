"""Settings read from the environment (prefix ``WANGGE_``) or a ``.env`` file."""

from functools import lru_cache
from typing import Literal

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from geo.indicators.definitions import DEFAULT_GRADES, DEFAULT_WEIGHTS, check_grades, check_weights
from geo.worktime.hours import DEFAULT_WORK_HOURS, parse_work_hours


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="WANGGE_", env_file=".env", extra="ignore")

    database_url: str = Field(
        "sqlite:///wangge.db",
        description="sqlite:///PATH for an embedded SpatiaLite file, postgresql://... for PostGIS",
    )
    # How stale another process's grid or responder changes may be in this process's indexes.
    index_check_interval_s: float = 1.0
    # How long `wangge serve` keeps an idle keep-alive connection open (seconds).
    keep_alive_s: int = Field(30, gt=0)
    # Largest request body the API reads (a batch of a million points is about 40 MB of JSON).
    max_body_bytes: int = 64 * 1024 * 1024
    # Optional TOML file overriding workflow deadlines (same layout as geo/incidents/workflows.toml).
    workflows_file: str | None = None
    # A new report this close to an open one of the same kind and category may be a duplicate.
    duplicate_radius_m: float = 50.0
    # How often the server looks for overdue incidents to escalate (0: never; run `wangge escalate`).
    escalation_interval_s: float = 60.0
    # Database connections per server process; as many requests work on the database at once,
    # the rest wait their turn without holding a connection or a thread (see api/concurrency.py).
    db_pool_size: int = Field(8, ge=1, le=200)
    # How long a request may wait for its turn at the database (or, on SQLite, at the one writer)
    # before it is answered 503 with Retry-After.
    db_wait_timeout_s: float = Field(20.0, gt=0)
    # How long a write's Idempotency-Key is remembered (24 hours).
    idempotency_ttl_s: float = Field(24 * 3600.0, gt=0)
    # Origins allowed to call the API from a browser page of theirs (CORS); none by default.
    cors_origins: list[str] = []
    # Wrong tokens from one client address: after this many within the window, each further
    # attempt is slowed, and past twice as many refused with 429 until the window passes.
    auth_failures_allowed: int = Field(10, ge=1)
    auth_failure_window_s: float = Field(300.0, gt=0)
    # Sign-in (geo/access/signin.py). Tokens from POST /api/v1/auth/token and web sessions expire
    # after token_ttl_s; a web session also ends after session_idle_s without a request.
    token_ttl_s: float = Field(8 * 3600.0, gt=0)
    session_idle_s: float = Field(30 * 60.0, gt=0)
    # Wrong passwords for one account within the window lock it for lock_s; so does a client
    # address with address_failures_allowed wrong passwords (for any accounts) in the window.
    signin_failures_allowed: int = Field(5, ge=1)
    signin_window_s: float = Field(15 * 60.0, gt=0)
    signin_lock_s: float = Field(15 * 60.0, gt=0)
    signin_address_failures_allowed: int = Field(20, ge=1)
    # The audit log is kept at least 180 days (等保2.0 level 2 asks for six months).
    audit_retention_days: int = Field(180, ge=180)
    # Maps (maps/): basemaps and where the front-end assets are installed.
    tianditu_key: str | None = None  # Tianditu's vec_w/cva_w layers are offered only with a key
    tile_url: str | None = None  # a self-hosted tile server, e.g. http://tiles.local/{z}/{x}/{y}.png
    tile_attribution: str = "self-hosted tiles"
    tile_crs: str = "wgs84"  # wgs84 (Web Mercator tiles like OSM) or gcj02 (tiles drawn like Amap's)
    map_assets_dir: str | None = None  # default: maps/assets/node_modules (filled by npm ci)
    # Vector tiles (geo/tiles/): built tiles kept on disk, keyed by their layers' revisions. "auto":
    # on SpatiaLite (which builds them in Python), not on PostGIS (ST_AsMVT is fast); "on", "off".
    vector_tile_cache: Literal["auto", "on", "off"] = "auto"
    vector_tile_cache_dir: str = "var/tiles"
    # Photos (geo/media/): where their files live, content-addressed by SHA-256, and their limits.
    media_dir: str = "var/media"
    photo_max_bytes: int = Field(10 * 1024 * 1024, ge=1024)
    photo_max_count: int = Field(9, ge=1)
    # A photo whose EXIF position is farther than this from its incident is flagged "far".
    photo_far_m: float = Field(200.0, gt=0)
    # Decoded pixels a photo may have (a small file that decodes huge is a decompression bomb).
    photo_max_pixels: int = Field(64_000_000, ge=1)
    # Patrols (geo/patrols/): check-in, track cleaning, coverage and how long tracks are kept.
    patrol_checkin_m: float = Field(200.0, ge=0)  # a start farther than this outside one's grids is flagged
    patrol_max_accuracy_m: float = Field(50.0, gt=0)  # fixes less accurate than this are dropped
    patrol_max_speed_mps: float = Field(30.0, gt=0)  # a fix reached faster than this from the last is dropped
    patrol_visit_m: float = Field(30.0, gt=0)  # a building within this of a track was visited
    patrol_stale_days: int = Field(7, ge=1)  # buildings not visited for this many days are highlighted
    patrol_retention_days: int = Field(30, ge=1)  # raw fixes and tracks are deleted after this
    patrol_simplify_m: float = Field(5.0, ge=0)  # the stored track's simplification tolerance
    patrol_max_batch: int = Field(10_000, ge=1)  # fixes in one request
    patrol_max_age_days: float = Field(2.0, gt=0)  # fixes older than this are refused (a wrong clock)
    patrol_purge_interval_s: float = Field(3600.0, ge=0)  # how often the server purges (0: never)
    # Components (geo/components/): an incident may name only a component this close to it.
    component_max_distance_m: float = Field(50.0, gt=0)
    # Working time (geo/worktime/): the working periods of a working day, in China time, and a
    # CSV or TOML file of a city's own holidays and working days, and of years chinese-calendar
    # does not know yet.
    work_hours: str = DEFAULT_WORK_HOURS
    work_calendar_file: str | None = None
    # A year neither chinese-calendar nor the file knows: counted Monday to Friday with a
    # warning in the log (weekdays), or refused with 503 (refuse).
    work_calendar_unknown_years: Literal["weekdays", "refuse"] = "weekdays"
    # Indicators (geo/indicators/): the composite score's weight per rate (JSON, e.g.
    # WANGGE_INDICATOR_WEIGHTS='{"close_on_time_rate": 0.5, "close_rate": 0.5}'), and the grades
    # with their lower bounds, best first (WANGGE_INDICATOR_GRADES='[["A", 90], ..., ["E", 0]]').
    # Open311 GeoReport v2 (/open311): the jurisdiction this server serves (a jurisdiction_id
    # other than this one is refused; default the demo community's code), and what the
    # discovery document says about whom to ask and where to get an api_key.
    open311_jurisdiction: str = "441802001001"
    open311_contact: str = "The community's grid governance office (社区网格化管理办公室)"
    open311_key_service: str = "An api_key is a wangge token: ask the community's administrator (wangge user token)"
    indicator_weights: dict[str, float] = Field(default_factory=lambda: dict(DEFAULT_WEIGHTS))
    indicator_grades: list[tuple[str, float]] = Field(default_factory=lambda: list(DEFAULT_GRADES))

    @field_validator("work_hours")
    @classmethod
    def _work_hours(cls, value: str) -> str:
        parse_work_hours(value)  # a clear message now rather than a wrong deadline later
        return value

    @field_validator("indicator_weights")
    @classmethod
    def _indicator_weights(cls, value: dict[str, float]) -> dict[str, float]:
        return check_weights(value)

    @field_validator("indicator_grades")
    @classmethod
    def _indicator_grades(cls, value: list[tuple[str, float]]) -> list[tuple[str, float]]:
        return check_grades(value)


@lru_cache
def get_settings() -> Settings:
    return Settings()
