"""InfluxDB line protocol for the two measurements the probe writes (docs/metrics.md)."""

from __future__ import annotations

from typing import Mapping, Union

from .config import Config, Edge
from .meter import Sample

FieldValue = Union[int, float, None]


def _escape_tag(value: str) -> str:
    return value.replace("\\", "\\\\").replace(",", "\\,").replace("=", "\\=").replace(" ", "\\ ")


def _field(value: FieldValue) -> str:
    if isinstance(value, (bool, int)):
        return f"{int(value)}i"
    return repr(float(value))


def series(measurement: str, tags: Mapping[str, str]) -> str:
    """A point's measurement and tags, as the line protocol writes them: the same for all of a series."""
    return measurement + "".join(f",{k}={_escape_tag(v)}" for k, v in sorted(tags.items()) if v != "")


def point(series_text: str, fields: Mapping[str, FieldValue], time: float) -> str:
    """One point of a series (`series`); fields that are None are left out; time in milliseconds."""
    field_text = ",".join(f"{k}={_field(v)}" for k, v in fields.items() if v is not None)
    return f"{series_text} {field_text} {round(time * 1000)}"


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time: float) -> str:
    return point(series(measurement, tags), fields, time)


def edge_tags(edge: Edge) -> dict:
    return {
        "group": edge.group,
        "src": edge.src,
        "dst": edge.dst,
        "dscp": str(edge.dscp),
        "src_address": edge.src_address,
        "dst_address": edge.dst_address,
    }


def sample_line(edge: Edge, sample: Sample) -> str:
    fields = {
        "bitrate_bps": float(sample.bitrate_bps),
        "jitter_ms": sample.jitter_ms,
        "packets": sample.packets,
        "lost": sample.lost,
        "loss_pct": float(sample.loss_pct),
        "up": sample.up,
        "out_of_order": sample.out_of_order,
    }
    return line("syntraf", edge_tags(edge), fields, sample.time)


def health_line(config: Config, fields: Mapping[str, FieldValue], time: float) -> str:
    tags = {"host": config.host, "group": config.group, "revision": config.revision}
    return line("syntraf_probe", tags, fields, time)
