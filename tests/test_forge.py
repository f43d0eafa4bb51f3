"""forge.py against a local HTTP server that records and checks the exact requests."""

from __future__ import annotations

import http.server
import itertools
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest

from fixuser.branches import forge


class Recorder(http.server.BaseHTTPRequestHandler):
    requests: list[dict[str, Any]]
    answer: tuple[int, dict[str, Any]]

    def do_POST(self) -> None:
        length = int(self.headers.get("Content-Length", "0"))
        self.server.requests.append(  # type: ignore[attr-defined]
            {
                "path": self.path,
                "headers": {k.lower(): v for k, v in self.headers.items()},
                "body": json.loads(self.rfile.read(length)),
                "at": time.monotonic(),
            }
        )
        status, body = self.server.answer  # type: ignore[attr-defined]
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[http.server.ThreadingHTTPServer]:
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Recorder)
    httpd.requests = []  # type: ignore[attr-defined]
    httpd.answer = (201, {"html_url": "https://example.test/pr/1"})  # type: ignore[attr-defined]
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield httpd
    httpd.shutdown()


def api(httpd: http.server.ThreadingHTTPServer) -> str:
    return f"http://127.0.0.1:{httpd.server_address[1]}/api/v3"


REQUEST = forge.Request(
    remote_url="git@github.com:acme/web-app.git",
    branch="fixuser/non-root-user",
    base="main",
    title="Run the container as a non-root user",
    body="body text",
)


def test_github_draft_pull_request_exact_request(server: Any) -> None:
    url = forge.Forge("github", "t0ken", api(server), delay=0).open(REQUEST)
    assert url == "https://example.test/pr/1"
    (seen,) = server.requests
    assert seen["path"] == "/api/v3/repos/acme/web-app/pulls"
    assert seen["body"] == {
        "title": "Run the container as a non-root user",
        "head": "fixuser/non-root-user",
        "base": "main",
        "body": "body text",
        "draft": True,
    }
    assert seen["headers"]["authorization"] == "Bearer t0ken"
    assert seen["headers"]["accept"] == "application/vnd.github+json"
    assert seen["headers"]["x-github-api-version"] == "2022-11-28"
    assert seen["headers"]["content-type"] == "application/json"


def test_gitlab_draft_merge_request_exact_request(server: Any) -> None:
    server.answer = (201, {"web_url": "https://gitlab.test/g/s/p/-/merge_requests/7"})
    request = forge.Request(
        remote_url="https://gitlab.example.com/group/sub/proj.git",
        branch="fixuser/non-root-user",
        base="develop",
        title="Run the container as a non-root user",
        body="body text",
    )
    url = forge.Forge("gitlab", "glpat", api(server), delay=0).open(request)
    assert url == "https://gitlab.test/g/s/p/-/merge_requests/7"
    (seen,) = server.requests
    assert seen["path"] == "/api/v3/projects/group%2Fsub%2Fproj/merge_requests"
    assert seen["body"] == {
        "source_branch": "fixuser/non-root-user",
        "target_branch": "develop",
        "title": "Draft: Run the container as a non-root user",
        "description": "body text",
        "remove_source_branch": True,
    }
    assert seen["headers"]["private-token"] == "glpat"
    assert "authorization" not in seen["headers"]


def test_forge_refusal_becomes_one_line_error(server: Any) -> None:
    server.answer = (
        422,
        {"message": "Validation Failed", "errors": [{"message": "A pull request already exists"}]},
    )
    with pytest.raises(forge.ForgeError, match=r"HTTP 422: Validation Failed; A pull request"):
        forge.Forge("github", "t", api(server), delay=0).open(REQUEST)


def test_requests_are_throttled_across_threads(server: Any) -> None:
    github = forge.Forge("github", "t", api(server), delay=0.2)
    threads = [threading.Thread(target=github.open, args=(REQUEST,)) for _ in range(3)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    times = sorted(seen["at"] for seen in server.requests)
    assert len(times) == 3
    assert all(b - a >= 0.18 for a, b in itertools.pairwise(times))


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        ("https://github.com/acme/app.git", "acme/app"),
        ("https://github.com/acme/app", "acme/app"),
        ("git@github.com:acme/app.git", "acme/app"),
        ("ssh://git@gitlab.example.com:2222/g/sub/app.git", "g/sub/app"),
        ("https://user:pw@gitlab.example.com/g/app.git/", "g/app"),
    ],
)
def test_project_path(url: str, expected: str) -> None:
    assert forge.project_path(url) == expected


@pytest.mark.parametrize("url", ["/srv/git/app.git", "file:///srv/git/app.git", "nohost"])
def test_project_path_refuses_local_remotes(url: str) -> None:
    with pytest.raises(forge.ForgeError):
        forge.project_path(url)


def test_token_and_api_come_from_the_environment() -> None:
    env = {"GITLAB_TOKEN": "abc", "FIXUSER_GITLAB_API": "http://localhost:1/api/v4/"}
    made = forge.from_options("gitlab", None, 0.5, env)
    assert (made.token, made.api, made.throttle.delay) == ("abc", "http://localhost:1/api/v4", 0.5)
    assert forge.from_options("gitlab", "http://x/api", 0, env).api == "http://x/api"
    with pytest.raises(forge.ForgeError, match=r"\$GITHUB_TOKEN"):
        forge.from_options("github", None, 0, {})
