"""A small Keycloak admin REST client (stdlib only): what verify, the audit and recovery read.

It logs in to the ``master`` realm with ``admin-cli`` (password grant) and
refreshes its token before it expires (Keycloak's default lifetime is 60 s).
Nothing it reads or prints contains a secret: passwords are only sent.
"""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass, field

from hubkit.errors import HubkitError


@dataclass
class Admin:
    url: str
    login: str
    password: str = field(default="", repr=False)
    timeout: float = 30.0
    _token: str | None = field(default=None, repr=False)
    _expires: float = 0.0

    def _login(self) -> str:
        if self._token and time.monotonic() < self._expires - 10:
            return self._token
        body = urllib.parse.urlencode({"grant_type": "password", "client_id": "admin-cli",
                                       "username": self.login, "password": self.password}).encode()
        doc = self._send("POST", "/realms/master/protocol/openid-connect/token", body,
                         {"Content-Type": "application/x-www-form-urlencoded"}, auth=False)
        self._token = doc["access_token"]
        self._expires = time.monotonic() + float(doc.get("expires_in", 60))
        return self._token

    def _send(self, method: str, path: str, data: bytes | None = None, headers: dict | None = None,
              auth: bool = True):
        h = dict(headers or {})
        if auth:
            h["Authorization"] = f"Bearer {self._login()}"
        req = urllib.request.Request(self.url.rstrip("/") + path, data=data, method=method, headers=h)
        try:
            with urllib.request.urlopen(req, timeout=self.timeout) as r:
                raw = r.read()
        except urllib.error.HTTPError as e:
            if e.code == 404:
                return None
            raise HubkitError(f"Keycloak {method} {path}: HTTP {e.code}",
                              "check the admin login and that Keycloak is running") from None
        except OSError as e:
            raise HubkitError(f"Keycloak at {self.url} is not reachable: {e}",
                              "start the lab's Keycloak (`hubkit lab up ID --keycloak`) or check KEYCLOAK_URL") from None
        return json.loads(raw) if raw else {}

    def get(self, path: str, **query):
        qs = f"?{urllib.parse.urlencode(query)}" if query else ""
        return self._send("GET", path + qs)

    def delete(self, path: str) -> None:
        self._send("DELETE", path)

    def write(self, method: str, path: str, body) -> None:
        """POST or PUT a JSON body (tests use it to make drift by hand)."""
        self._send(method, path, json.dumps(body).encode(), {"Content-Type": "application/json"})

    # -- lookups by name --------------------------------------------------------------
    def realm(self, realm: str) -> dict | None:
        return self.get(f"/admin/realms/{realm}")

    def user(self, realm: str, username: str) -> dict | None:
        found = self.get(f"/admin/realms/{realm}/users", username=username, exact="true") or []
        return found[0] if found else None

    def group(self, realm: str, name: str) -> dict | None:
        found = self.get(f"/admin/realms/{realm}/groups", search=name, exact="true") or []
        return next((g for g in found if g.get("name") == name), None)

    def group_members(self, realm: str, group_id: str) -> list[str]:
        return sorted(u["username"] for u in self.get(f"/admin/realms/{realm}/groups/{group_id}/members",
                                                      max="1000") or [])

    def role(self, realm: str, name: str) -> dict | None:
        return self.get(f"/admin/realms/{realm}/roles/{urllib.parse.quote(name)}")

    def role_composites(self, realm: str, name: str) -> list[str]:
        return sorted(r["name"] for r in self.get(
            f"/admin/realms/{realm}/roles/{urllib.parse.quote(name)}/composites") or [])

    def flow_executions(self, realm: str, alias: str) -> list[dict]:
        return self.get(f"/admin/realms/{realm}/authentication/flows/{urllib.parse.quote(alias)}/executions") or []

    def execution_config(self, realm: str, config_id: str) -> dict | None:
        return self.get(f"/admin/realms/{realm}/authentication/config/{config_id}")
