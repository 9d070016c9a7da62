"""Shared fixtures for the data-spec tests: the project's specs and small synthetic frames of each."""

from __future__ import annotations

import os

import polars as pl
import pytest
from sf1630.dataspec import DataSpec, list_specs, load_spec
from sf1630.dataspec.synth import synthesize

from tests.support.dataspec import AUTHORITY, PERIOD

os.environ.setdefault("GX_ANALYTICS_ENABLED", "False")
SPEC_NAMES = list_specs()


@pytest.fixture(scope="module", params=SPEC_NAMES)
def spec(request: pytest.FixtureRequest) -> DataSpec:
    return load_spec(request.param)


@pytest.fixture(scope="module")
def frame(spec: DataSpec) -> pl.DataFrame:
    return synthesize(spec, 60, AUTHORITY, PERIOD, seed=3)
