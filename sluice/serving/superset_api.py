"""A small client of Superset's REST API (`/api/v1`), as a logged-in user: JWT login, then the CSRF token that
Superset's Flask-WTF protection asks of every write."""

from __future__ import annotations

from typing import Any

import requests

_ONE_PAGE = 10_000  # FAB_API_MAX_PAGE_SIZE in superset/superset_config.py


class SupersetError(RuntimeError):
    """Superset refused a request or cannot be reached; the message says which and why."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


def rison(value: object) -> str:
    """Rison, the URL-friendly JSON of Superset's list filters (`?q=`); strings are always quoted, which is valid."""
    if isinstance(value, dict):
        return "(" + ",".join(f"{key}:{rison(item)}" for key, item in value.items()) + ")"
    if isinstance(value, list | tuple):
        return "!(" + ",".join(rison(item) for item in value) + ")"
    if isinstance(value, bool):
        return "!t" if value else "!f"
    if isinstance(value, int | float):
        return str(value)
    return "'" + str(value).replace("!", "!!").replace("'", "!'") + "'"


class SupersetClient:
    def __init__(self, url: str, username: str, password: str, *, timeout: float = 120) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self.session = requests.Session()
        login = {"username": username, "password": password, "provider": "db", "refresh": False}
        token = self.request("POST", "/api/v1/security/login", json=login)["access_token"]
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.session.headers["X-CSRFToken"] = self.request("GET", "/api/v1/security/csrf_token/")["result"]
        self.session.headers["Referer"] = self.url  # Flask-WTF checks it on HTTPS; harmless on HTTP

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self.session.request(method, self.url + path, timeout=self.timeout, **kwargs)
        except requests.ConnectionError as error:
            raise SupersetError(f"Superset at {self.url} cannot be reached ({error}); is the stack up?") from None
        if not response.ok:
            raise SupersetError(
                f"{method} {path}: HTTP {response.status_code}: {response.text[:1000]}", status=response.status_code
            )
        return response.json() if response.content else None

    def get(self, path: str, **params: Any) -> Any:
        return self.request("GET", path, params=params)

    def post(self, path: str, payload: object) -> Any:
        return self.request("POST", path, json=payload)

    def put(self, path: str, payload: object) -> Any:
        return self.request("PUT", path, json=payload)

    def delete(self, path: str) -> Any:
        return self.request("DELETE", path)

    def find(self, resource: str, columns: list[str] | None = None, **equal: object) -> list[dict[str, Any]]:
        """Every `resource` object whose fields equal the keyword values, in one page of Superset's list API: its
        lists have no stable order, so the pages of a longer list would overlap and miss rows."""
        query: dict[str, object] = {
            "filters": [{"col": col, "opr": "eq", "value": value} for col, value in equal.items()],
            "page": 0,
            "page_size": _ONE_PAGE,
        }
        if columns:
            query["columns"] = columns
        result = self.get(f"/api/v1/{resource}/", q=rison(query))
        if len(result["result"]) < result["count"]:
            raise SupersetError(
                f"Superset holds {result['count']} {resource} objects, more than one page of {len(result['result'])}; "
                "raise FAB_API_MAX_PAGE_SIZE in superset/superset_config.py"
            )
        return list(result["result"])
