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


def line(measurement: str, tags: Mapping[str, str], fields: Mapping[str, FieldValue], time: float) -> str:
    """One point; fields that are None are left out; time in milliseconds."""
    tag_text = "".join(f",{k}={_escape_tag(v)}" for k, v in sorted(tags.items()) if v != "")
    field_text = ",".join(f"{k}={_field(v)}" for k, v in fields.items() if v is not None)
    return f"{measurement}{tag_text} {field_text} {round(time * 1000)}"


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
