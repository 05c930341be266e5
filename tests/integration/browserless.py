"""A console client without a browser: plain HTTP with cookies and the CSRF token, for tests
about what the server answers (statuses, redirects, sessions), not about how pages look."""

from __future__ import annotations

import http.client
import re
from dataclasses import dataclass, field
from urllib.parse import urlencode

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@dataclass
class Reply:
    status: int
    location: str
    text: str


@dataclass
class ConsoleClient:
    endpoint: str
    source: str | None = None
    cookies: dict[str, str] = field(default_factory=dict)
    csrf: str = ""

    def request(self, method: str, path: str, form: dict[str, str] | None = None) -> Reply:
        host, port = self.endpoint.split(":")
        conn = http.client.HTTPConnection(
            host, int(port), timeout=60, source_address=(self.source, 0) if self.source else None
        )
        try:
            headers = {"Host": self.endpoint, "Accept": "text/html"}
            if self.cookies:
                headers["Cookie"] = "; ".join(f"{k}={v}" for k, v in self.cookies.items())
            body = None
            if form is not None:
                body = urlencode(form)
                headers["Content-Type"] = "application/x-www-form-urlencoded"
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            for name, value in response.getheaders():
                if name.lower() == "set-cookie":
                    cookie, _, attributes = value.partition(";")
                    key, _, val = cookie.partition("=")
                    if "max-age=0" in attributes.lower() or not val.strip('"'):
                        self.cookies.pop(key.strip(), None)
                    else:
                        self.cookies[key.strip()] = val
            text = response.read().decode("utf-8", "replace")
            found = _CSRF.search(text)
            if found:
                self.csrf = found.group(1)
            return Reply(response.status, response.getheader("location") or "", text)
        finally:
            conn.close()

    def get(self, path: str) -> Reply:
        return self.request("GET", path)

    def post(self, path: str, form: dict[str, str]) -> Reply:
        return self.request("POST", path, {**form, "csrf": self.csrf})

    def sign_in(self, account: str, password: str, user: str = "") -> Reply:
        self.get("/console/signin")
        return self.post(
            "/console/signin", {"account": account, "user": user, "password": password}
        )
