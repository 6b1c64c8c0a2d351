"""The committed demo files are exactly what the generator makes today."""

from __future__ import annotations

import pytest

from data import generate_demo
from geo.io.demo import DEMO_DIR

COMMITTED = sorted(p.name for p in DEMO_DIR.glob("*.geojson"))


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    # One run for every comparison: the generator takes a couple of seconds.
    out = tmp_path_factory.mktemp("demo")
    generate_demo.main(["--out", str(out)])
    return out


def test_generator_writes_every_committed_file_and_no_other(generated):
    assert sorted(p.name for p in generated.iterdir()) == COMMITTED


@pytest.mark.parametrize("name", COMMITTED)
def test_generated_file_is_byte_identical_to_the_committed_one(generated, name):
    assert (generated / name).read_bytes() == (DEMO_DIR / name).read_bytes(), (
        "regenerate with python -m data.generate_demo"
    )
