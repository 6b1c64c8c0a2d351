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
    host: str = "127.0.0.1"
    port: int = 8000


@lru_cache
def get_settings() -> Settings:
    return Settings()
