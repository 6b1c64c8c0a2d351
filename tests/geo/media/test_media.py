"""The media store and the files of photos: content addressing, atomic writes, and no file
outliving the unit of work that wrote it (both databases)."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from shapely.geometry import Point

from geo.access.policy import SYSTEM
from geo.db.session import session_scope
from geo.edit.features import create_feature, delete_feature
from geo.errors import InputError
from geo.media.images import inspect_image
from geo.media.photos import add_photo, exif_crs_of, photos_of
from geo.media.store import DirectoryStore, media_store, sha256_of
from geo.models import Incident
from tests.support.photos import image, jpeg, media_files

NOW = datetime(2027, 6, 1, 2, 0, tzinfo=UTC)
SITE = (113.0425, 23.6925)


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
    assert media_files() == []


def test_a_file_another_photo_uses_survives_a_rollback_and_deletion(engine):
    data = jpeg()
    with session_scope(engine) as s:
        first, second = _incident(s).id, _incident(s).id
        add_photo(s, s.get(Incident, first), data, "report", SYSTEM, NOW)
    with pytest.raises(RuntimeError), session_scope(engine) as s:
        add_photo(s, s.get(Incident, second), data, "report", SYSTEM, NOW)
        raise RuntimeError("rolled back")
    assert len(media_files()) == 1  # still the first incident's photo
    with session_scope(engine) as s:
        add_photo(s, s.get(Incident, second), data, "report", SYSTEM, NOW)
    with session_scope(engine) as s:
        delete_feature(s, "incidents", first, SYSTEM, NOW)
    assert len(media_files()) == 1
    with session_scope(engine) as s:
        delete_feature(s, "incidents", second, SYSTEM, NOW)
    assert media_files() == []


@pytest.mark.parametrize("upload_commits", [True, False], ids=["upload-commits", "upload-rolls-back"])
def test_a_deletion_waits_for_an_upload_of_the_same_file(engine, upload_commits):
    """Deleting the only committed photo of a file while another unit of work is adding the
    same file: the deletion must not take the file from under it, nor leave it if it fails."""
    data = jpeg(color=(9, 9, 9))
    with session_scope(engine) as s:
        first, second = _incident(s).id, _incident(s).id
        add_photo(s, s.get(Incident, second), data, "report", SYSTEM, NOW)
    uploaded, go_on = threading.Event(), threading.Event()

    def upload():
        with session_scope(engine, write=True) as s:
            add_photo(s, s.get(Incident, first), data, "report", SYSTEM, NOW)
            uploaded.set()
            go_on.wait(30)
            if not upload_commits:
                s.rollback()

    def delete():
        with session_scope(engine, write=True) as s:
            delete_feature(s, "incidents", second, SYSTEM, NOW)

    uploader = threading.Thread(target=upload)
    uploader.start()
    assert uploaded.wait(30)
    deleter = threading.Thread(target=delete)
    deleter.start()
    deleter.join(3)  # it cannot finish while the upload is open (lock on the file, or SQLite's writer)
    assert deleter.is_alive() and len(media_files()) == 1
    go_on.set()
    uploader.join(30)
    deleter.join(30)
    with session_scope(engine) as s:
        rows = photos_of(s, first) + photos_of(s, second)
    assert len(rows) == (1 if upload_commits else 0)
    assert len(media_files()) == len(rows)
    if rows:
        assert media_store().exists(rows[0].sha256)


def _cut(data: bytes) -> bytes:
    return data[: len(data) * 2 // 3]


@pytest.mark.parametrize("fmt", ["JPEG", "PNG", "WEBP"])
def test_a_truncated_file_is_refused_without_decoding_it(fmt):
    whole = image(size=(300, 200), fmt=fmt)
    assert inspect_image(whole).width == 300
    with pytest.raises(InputError, match="incomplete"):
        inspect_image(_cut(whole))


def test_bytes_after_a_jpeg_end_are_allowed():
    """Phone makers append trailers after the JPEG's end of image."""
    info = inspect_image(jpeg(size=(120, 90)) + b"SEFT trailer")
    assert (info.media_type, info.width, info.height) == ("image/jpeg", 120, 90)
