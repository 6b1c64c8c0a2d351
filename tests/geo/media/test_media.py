"""The media store and the files of photos: content addressing, atomic writes, and no file
outliving the unit of work that wrote it (both databases)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest
from shapely.geometry import Point

from geo.access.policy import SYSTEM
from geo.db.session import session_scope
from geo.edit.features import create_feature, delete_feature
from geo.media.photos import add_photo, exif_crs_of
from geo.media.store import DirectoryStore, media_store, sha256_of
from geo.models import Incident
from geo.settings import get_settings
from tests.support.photos import jpeg

NOW = datetime(2027, 6, 1, 2, 0, tzinfo=UTC)
SITE = (113.0425, 23.6925)


def files() -> list[Path]:
    root = Path(get_settings().media_dir)
    return sorted(p for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_store_is_content_addressed_and_atomic(tmp_path):
    store = DirectoryStore(tmp_path)
    data = jpeg()
    sha, written = store.put(data)
    again, written_again = store.put(data)
    assert sha == again == sha256_of(data) and (written, written_again) == (True, False)
    assert store.path(sha) == tmp_path / sha[:2] / sha[2:4] / sha
    assert [p.name for p in tmp_path.rglob("*") if p.is_file()] == [sha]  # no temporary file left
    store.put_variant(sha, "thumb", b"small")
    with store.open(sha, "thumb") as f:
        assert f.read() == b"small"
    store.delete(sha)
    assert not store.exists(sha) and not store.exists(sha, "thumb")
    with pytest.raises(ValueError):
        store.path("../../etc/passwd")


@pytest.mark.parametrize(
    ("declared", "datum", "expected"),
    [(None, None, ("wgs84", True)), (None, "GCJ-02", ("gcj02", False)), ("wgs84", "GCJ02", ("wgs84", False))],
)
def test_exif_crs_declared_or_assumed(declared, datum, expected):
    assert exif_crs_of(declared, datum) == expected


def _incident(session) -> Incident:
    props = {"kind": "case", "category": "dispute", "title": "t"}
    return create_feature(session, "incidents", props, Point(SITE), SYSTEM, NOW)


def test_a_failed_transaction_leaves_no_file(engine):
    with session_scope(engine) as s:
        incident_id = _incident(s).id
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        photo = add_photo(s, s.get(Incident, incident_id), jpeg(gps=SITE), "report", SYSTEM, NOW)
        assert media_store().exists(photo.sha256)  # written inside the unit of work
        raise RuntimeError("something later in the same unit of work fails")
    assert files() == []


def test_a_file_another_photo_uses_survives_a_rollback_and_deletion(engine):
    data = jpeg()
    with session_scope(engine) as s:
        first, second = _incident(s).id, _incident(s).id
        add_photo(s, s.get(Incident, first), data, "report", SYSTEM, NOW)
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        add_photo(s, s.get(Incident, second), data, "report", SYSTEM, NOW)
        raise RuntimeError("rolled back")
    assert len(files()) == 1  # still the first incident's photo
    with session_scope(engine) as s:
        add_photo(s, s.get(Incident, second), data, "report", SYSTEM, NOW)
    with session_scope(engine) as s:
        delete_feature(s, "incidents", first, SYSTEM, NOW)
    assert len(files()) == 1
    with session_scope(engine) as s:
        delete_feature(s, "incidents", second, SYSTEM, NOW)
    assert files() == []
