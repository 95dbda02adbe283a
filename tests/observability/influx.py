"""A real InfluxDB 1.x loaded with known points, queried as Grafana queries it."""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

from tests.observability import data


def load(url: str, lines: list[str]) -> None:
    """Write line-protocol `lines` (ms timestamps) through the v1 /write."""
    request = urllib.request.Request(
        f"{url}/write?db=syntraf&precision=ms", data="\n".join(lines).encode(), method="POST"
    )
    urllib.request.urlopen(request, timeout=60).read()


class Influx:
    def __init__(self, url: str, end_s: int, points: list[data.Point]) -> None:
        self.url, self.end_s, self.points = url, end_s, points

    def query(self, text: str, seconds: int = data.SECONDS) -> list[dict]:
        """The series of an InfluxQL query as Grafana sends it for the last `seconds` before end_s and the
        test's variables."""
        start = self.end_s - seconds
        for macro, value in {
            "$timeFilter": f"time > {start * 1000}ms AND time <= {self.end_s * 1000}ms",
            "$__interval": "60s",
            "$group": "g",
            "$src": "a",
            "$dst": "b",
            "$host": "c",
        }.items():
            text = text.replace(macro, value)
        body = urllib.parse.urlencode({"db": "syntraf", "q": text, "epoch": "s"}).encode()
        with urllib.request.urlopen(f"{self.url}/query", data=body, timeout=30) as response:
            result = json.loads(response.read())["results"][0]
        assert "error" not in result, (text, result)
        return result.get("series", [])


def rows(series: dict) -> list[dict]:
    return [dict(zip(series["columns"], values)) for values in series["values"]]
