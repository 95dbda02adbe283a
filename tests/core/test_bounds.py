"""Valid means it runs: the review's values the probe (or iperf3) cannot run are refused by `plan` and
`render` with the probe's own bounds (syntraf_probe.bounds), with exit 2, a message naming file:line and key,
nothing written, and never a traceback."""

from __future__ import annotations

from pathlib import Path

import pytest
from syntraf_probe.bounds import BOUNDS

from .conftest import snapshot


def refused(review, *fragments: str) -> str:
    """Both plan and render exit 2 naming every fragment on one line; render writes nothing."""
    code, out, err = review.run("plan")
    assert code == 2, out + err
    lines = [line for line in err.splitlines() if all(f in line for f in fragments)]
    assert len(lines) == 1, f"no single line with {fragments} in:\n{err}"
    before = snapshot(review.root.parent)
    assert review.run("render", "-o", str(review.root.parent / "out"))[0] == 2
    assert snapshot(review.root.parent) == before
    return lines[0]


@pytest.mark.parametrize(
    ("settings", "fragments"),
    [
        # C13: 16 bytes at 0.001 packets/s is 0.128 bit/s, 0 once rounded: iperf3 -b 0 means unlimited
        ("{packet_size: 16, packets_per_second: 0.001}", ("derived bandwidth 0 is outside", "unlimited")),
        # C13b: 1 bit/s in 1000-byte packets is 0.000125 packets/s, written as 0.0
        ("{bandwidth: 1, packet_size: 1000}", ("derived packets_per_second 0 is outside",)),
        # C14: more than the probe accepts, given or derived
        ("{bandwidth: 200g, packet_size: 1000}", ("voip.bandwidth", "200000000000 is outside")),
        ("{bandwidth: 10g, packet_size: 16}", ("derived packets_per_second 78125000 is outside",)),
        # C13c/C13d: tracebacks before
        ("{packet_size: 100, packets_per_second: .inf}", ("voip.packets_per_second", "inf")),
        ("{packet_size: 100, packets_per_second: .nan}", ("voip.packets_per_second", "nan")),
        ("{bandwidth: .inf, packet_size: 100}", ("voip.bandwidth", "inf")),
        ("{bandwidth: 1m, packet_size: 100, interval: .nan}", ("voip.interval", "nan")),
    ],
)
def test_traffic_the_probe_cannot_run_is_refused(review, settings, fragments):
    line = refused(review.group(settings), "group_vars/all/main.yml:1", "mesh group voip", *fragments)
    assert "Traceback" not in line


def test_spool_above_the_probes_maximum_is_refused(review):
    review.file("host_vars/a1.yml", "syntraf_spool_max_bytes: 2000000000000\n")
    refused(review, "host_vars/a1.yml:1", "host a1", "syntraf_spool_max_bytes", "1048576-1099511627776 bytes")


@pytest.mark.parametrize("version", ["3.20", "3.10"])
def test_unquoted_version_is_refused_with_how_to_quote_it(review, version):  # P1
    review.file("host_vars/a2.yml", f"syntraf_iperf3_version: {version}\n")
    refused(review, "host_vars/a2.yml:1", "host a2", "syntraf_iperf3_version", "quote it")


def test_quoted_version_is_accepted(review):
    review.file("host_vars/a2.yml", 'syntraf_iperf3_version: "3.20"\n')
    assert review.run("plan")[0] == 0


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://influx host:8086", "whitespace"),
        ("https://h:99999", "port"),
        ("http://:8086", "no host"),
        ('"http://influx:8086\\nX-Evil: 1"', "whitespace"),
        ("http://h:8O86", "port"),
        ("http://h:0", "port"),
        ("ftp://h:21", "http:// or https://"),
        ("http://user:pw@h:8086", "user:password@"),
    ],
)
def test_urls_are_parsed_and_checked(review, url, fragment):  # D4
    text = f"syntraf_influxdb: [{{url: {url}, org: noc, bucket: syntraf, token: tok}}]\n"
    review.file("host_vars/a3.yml", text)
    refused(review, "host_vars/a3.yml:1", "host a3", "syntraf_influxdb[0].url", fragment)


def test_a_token_with_a_line_break_is_refused_without_showing_it(review):  # PR5/PR6
    text = 'syntraf_influxdb: [{url: "http://h:8086", org: noc, bucket: b, token: "se\\ncret"}]\n'
    line = refused(review.file("host_vars/a3.yml", text), "syntraf_influxdb[0].token", "line break")
    assert "se" not in line.split("token:")[-1].replace("line break", "")


# The inventory setting behind each bound, for the table in docs/inventory.md.
SET_BY = {
    "edges[].bandwidth_bps": "mesh group `bandwidth`, given or derived",
    "edges[].packet_size": "mesh group `packet_size`, given or derived",
    "edges[].packets_per_second": "mesh group `packets_per_second`, given or derived",
    "edges[].dscp": "mesh group `dscp`",
    "edges[].interval": "mesh group `interval`",
    "edges[].port": "`syntraf_listen_port_range`",
    "iperf3.test_duration": "`syntraf_test_duration`",
    "iperf3.connect_timeout_ms": "syntraf-ctl (3000)",
    "auth.time_skew_threshold": "`syntraf_iperf3_time_skew_threshold`",
    "schedule.epoch_seconds": "mesh group `topology.epoch` (300)",
    "echo.port": "mesh group `echo.port`",
    "echo.rate": "mesh group `echo.rate` (1)",
    "spool.max_bytes": "`syntraf_spool_max_bytes`",
}


def test_the_documented_bounds_are_the_codes():
    rows = [f"| `{key}` | {SET_BY[key]} | {bound.limits()} | {bound.why} |" for key, bound in BOUNDS.items()]
    header = "| probe config key | set by | range | why |\n|---|---|---|---|\n"
    expected = header + "\n".join(rows) + "\n"
    text = (Path(__file__).parents[2] / "docs" / "inventory.md").read_text()
    start = text.index("| probe config key |")
    documented = text[start : text.index("<!-- end of bounds table -->", start)]
    assert documented == expected, "docs/inventory.md's bounds table should read:\n" + expected
