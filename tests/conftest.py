"""Shared fixtures. Each fixture module under tests/fixtures/ is a plugin listed here."""

import os

import pytest

pytest_plugins = [
    "tests.fixtures.clip_fixtures",
    "tests.fixtures.data_fixtures",
    "tests.fixtures.run_fixtures",
    "tests.fixtures.trainer_fixtures",
]


@pytest.fixture(autouse=True, scope="session")
def _isolated_cache(tmp_path_factory):
    """Point the project's cache at a temporary folder for the whole test session."""
    cache = tmp_path_factory.mktemp("ramt_cache")
    old = os.environ.get("RAMT_CACHE_DIR")
    os.environ["RAMT_CACHE_DIR"] = str(cache)
    yield cache
    if old is None:
        os.environ.pop("RAMT_CACHE_DIR", None)
    else:
        os.environ["RAMT_CACHE_DIR"] = old
