"""The layer registry is what the API, the CLI, export and the demo read: every layer in it is
served, listed and exported under its name, and named in the singular where one feature is meant."""

from __future__ import annotations

import geopandas as gpd
import pytest

from api.app import create_app
from api.cli import Layer as CliLayer
from api.v1 import API_PREFIX
from geo.db.session import session_scope
from geo.errors import InputError
from geo.io.export import export_layer
from geo.layers import LAYERS, layer, layer_of
from geo.models import Base


def test_every_model_with_a_geometry_that_users_see_is_a_layer_once():
    models = [entry.model for entry in LAYERS.values()]
    assert len(set(models)) == len(models)
    for entry in LAYERS.values():
        assert issubclass(entry.model, Base)
        assert "geom" in entry.model.__table__.c
        assert entry.code_field in entry.model.__table__.c
        assert entry.singular != entry.name and entry.zh and entry.title


def test_the_api_serves_a_list_and_an_item_route_per_layer_under_its_title():
    document = create_app().openapi()
    for entry in LAYERS.values():
        listed = document["paths"][f"{API_PREFIX}/{entry.name}"]
        item = document["paths"][f"{API_PREFIX}/{entry.name}/{{feature_id}}"]
        assert listed["get"]["tags"] == [entry.title]
        assert item["get"]["summary"] == f"One {entry.singular}"
        assert ("post" in listed) is entry.writable


def test_the_cli_offers_exactly_the_registrys_layers():
    assert [c.value for c in CliLayer] == list(LAYERS)


def test_an_unknown_layer_is_refused_naming_the_ones_there_are():
    with pytest.raises(InputError) as caught:
        layer("parks")
    assert "parks" in str(caught.value) and all(name in str(caught.value) for name in LAYERS)


@pytest.mark.parametrize("name", list(LAYERS))
def test_a_missing_feature_is_named_in_the_singular(client, name):
    answer = client.get(f"{API_PREFIX}/{name}/999999")
    assert answer.status_code == 404
    assert answer.json()["detail"] == f"No {LAYERS[name].singular} with id 999999"


def test_exported_columns_come_from_the_registry(demo, tmp_path):
    for entry in LAYERS.values():
        path = tmp_path / f"{entry.name}.geojson"
        with session_scope(demo) as session:
            count = export_layer(session, entry.name, path)
            first = session.query(entry.model).order_by(entry.model.id).first()
        frame = gpd.read_file(path)
        assert len(frame) == count > 0
        assert [name for name, _ in entry.exported] == [c for c in frame.columns if c != "geometry"][
            : len(entry.exported)
        ]
        assert layer_of(first) is entry
