"""Draft pull requests (GitHub) and merge requests (GitLab) through the forges' REST APIs.

Only the standard library: one small JSON POST per repository does not justify a dependency.
The API base is overridable (``--forge-url`` or ``FIXUSER_GITHUB_API`` / ``FIXUSER_GITLAB_API``)
so GitHub Enterprise, self-hosted GitLab and the tests' local HTTP server all work the same way.
Requests are throttled: at most one every ``delay`` seconds across all worker threads, because
both forges answer a burst of PR creations with secondary rate limits.
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
from typing import Any, Literal

from fixuser.errors import FixuserError

Kind = Literal["github", "gitlab"]
KINDS: tuple[Kind, ...] = ("github", "gitlab")

DEFAULT_API = {"github": "https://api.github.com", "gitlab": "https://gitlab.com/api/v4"}
API_ENV = {"github": "FIXUSER_GITHUB_API", "gitlab": "FIXUSER_GITLAB_API"}
TOKEN_ENV = {"github": "GITHUB_TOKEN", "gitlab": "GITLAB_TOKEN"}
TIMEOUT = 30.0

# https://host/owner/repo(.git), ssh://git@host[:port]/owner/repo(.git), git@host:owner/repo(.git)
URL_RE = re.compile(r"^(?:[a-z+]+://)?(?:[^@/]+@)?[^/:]+(?::\d+)?[/:](?P<path>.+?)(?:\.git)?/?$")


class ForgeError(FixuserError):
    """The forge refused or could not be reached; the message is one line for the report."""


@dataclasses.dataclass(frozen=True)
class Request:
    """What a review request needs, whichever forge opens it."""

    remote_url: str  # the clone URL of the remote the branch was pushed to
    branch: str
    base: str  # the target branch name, without ``origin/``
    title: str
    body: str


def project_path(remote_url: str) -> str:
    """``owner/repo`` (or ``group/subgroup/repo`` on GitLab) from a clone URL."""
    match = URL_RE.match(remote_url.strip())
    if not match or "/" not in match["path"] or remote_url.startswith(("file:", "/")):
        raise ForgeError(f"cannot tell the project from remote URL {remote_url!r}")
    return match["path"].lstrip("/")


def api_base(kind: Kind, override: str | None = None, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    return (override or env.get(API_ENV[kind]) or DEFAULT_API[kind]).rstrip("/")


def token_from_env(kind: Kind, env: Mapping[str, str] | None = None) -> str:
    env = os.environ if env is None else env
    token = env.get(TOKEN_ENV[kind], "")
    if not token:
        raise ForgeError(f"--open-pr {kind} needs a token in ${TOKEN_ENV[kind]}")
    return token


class Throttle:
    """At most one call every ``delay`` seconds, shared by all threads."""

    def __init__(self, delay: float) -> None:
        self.delay = max(0.0, delay)
        self._lock = threading.Lock()
        self._next = 0.0

    def wait(self) -> None:
        with self._lock:
            now = time.monotonic()
            if now < self._next:
                time.sleep(self._next - now)
                now = self._next
            self._next = now + self.delay


class Forge:
    """Opens draft review requests on one forge; safe to share between worker threads."""

    def __init__(self, kind: Kind, token: str, api: str, delay: float = 1.0) -> None:
        self.kind = kind
        self.token = token
        self.api = api.rstrip("/")
        self.throttle = Throttle(delay)

    def open(self, request: Request) -> str:
        """Open a draft PR/MR and return its web URL."""
        project = project_path(request.remote_url)
        if self.kind == "github":
            url = f"{self.api}/repos/{project}/pulls"
            payload: dict[str, Any] = {
                "title": request.title,
                "head": request.branch,
                "base": request.base,
                "body": request.body,
                "draft": True,
            }
            headers = {
                "Authorization": f"Bearer {self.token}",
                "Accept": "application/vnd.github+json",
                "X-GitHub-Api-Version": "2022-11-28",
            }
        else:
            url = f"{self.api}/projects/{urllib.parse.quote(project, safe='')}/merge_requests"
            payload = {
                "source_branch": request.branch,
                "target_branch": request.base,
                # GitLab marks a merge request as a draft by its title.
                "title": f"Draft: {request.title}",
                "description": request.body,
                "remove_source_branch": True,
            }
            headers = {"PRIVATE-TOKEN": self.token}
        answer = self._post(url, payload, headers)
        web_url = answer.get("html_url") or answer.get("web_url")
        if not isinstance(web_url, str):
            raise ForgeError(f"{self.kind} answered without a URL for the new review request")
        return web_url

    def _post(self, url: str, payload: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        data = json.dumps(payload).encode()
        request = urllib.request.Request(url, data=data, method="POST")
        for name, value in {**headers, "Content-Type": "application/json"}.items():
            request.add_header(name, value)
        request.add_header("User-Agent", "fixuser")
        self.throttle.wait()
        try:
            with urllib.request.urlopen(request, timeout=TIMEOUT) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as e:
            raise ForgeError(f"{self.kind}: HTTP {e.code}: {error_message(e)}") from e
        except (urllib.error.URLError, OSError, ValueError) as e:
            raise ForgeError(f"{self.kind}: {e}") from e
        if not isinstance(answer, dict):
            raise ForgeError(f"{self.kind}: unexpected answer {answer!r:.80}")
        return answer


def error_message(error: urllib.error.HTTPError) -> str:
    """The forge's own explanation (``message`` and GitHub's ``errors``), on one line."""
    try:
        body = json.loads(error.read() or b"{}")
    except (ValueError, OSError):
        return str(error.reason)
    if not isinstance(body, dict):
        return str(error.reason)
    parts = [str(body.get("message") or error.reason)]
    for item in body.get("errors") or ():
        parts.append(str(item.get("message", item)) if isinstance(item, dict) else str(item))
    return "; ".join(parts).replace("\n", " ")


def from_options(
    kind: Kind, api: str | None, delay: float, env: Mapping[str, str] | None = None
) -> Forge:
    """A Forge from the command line's choices; raises ForgeError when the token is missing."""
    return Forge(kind, token_from_env(kind, env), api_base(kind, api, env), delay)
