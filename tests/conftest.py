"""The helpers of the tests live in the importable package testing/ (see its __init__)."""

import pytest

# Before any of them is imported: their asserts report as a test's own do.
pytest.register_assert_rewrite("testing")

# Modules with fixtures (the engine's and a wheelhouse's), for every test module.
pytest_plugins = ("testing.engine", "testing.packaging")
