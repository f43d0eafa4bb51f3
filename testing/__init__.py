"""The tests' helpers, importable as ``testing.<module>`` (not shipped in fixuser's wheel).

- ``testing.git``: real repositories in a temporary directory, under an isolated git config.
- ``testing.fleet``: bare remotes with a Dockerfile each, for ``fixuser batch``.
- ``testing.engine``: the container engine (skip without one, fail in CI) and its fixtures.
- ``testing.apps``: the sample apps served from a container, reached over HTTP or FastCGI.
- ``testing.packaging``: a copy of the checkout, a wheelhouse, an offline pip (fixtures).
- ``testing.context``: the repository's context files (compose, CI, Kubernetes) for one test.
- ``testing.preserve``: what a fix must keep of the input (lines, instructions).
- ``testing.fuzzgen``: the grammar of generated Dockerfiles and the judge of fixuser's output.
- ``testing.disk``: a real full disk (a tiny tmpfs).
- ``testing.repos``: whole fixture repositories written by code, with each Dockerfile's role
  (tests/test_repos_fixtures.py, bench/repos.py).

tests/conftest.py registers the modules that hold fixtures as pytest plugins and has pytest
rewrite the asserts of the whole package; pyproject.toml puts the repository on sys.path, so
``pytest`` and ``python -m pytest`` both find it.
"""
