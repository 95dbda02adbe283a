"""status: state files (docs/probe-config.md) -> per-group grids and per-host lines."""

from __future__ import annotations

from syntraf_ctl.status import build_report, format_text


def state(host: str, group: str, edges: list[dict]) -> dict:
    return {
        "host": host,
        "group": group,
        "revision": "3f2a9c41d0e7",
        "updated": 1000.0,
        "pid": 1,
        "edges": edges,
    }


def received(src: str, dst: str, state_name: str = "measuring", **sample: float) -> dict:
    last = {
        "time": 995.0,
        "bitrate_bps": 68800.0,
        "jitter_ms": 0.02,
        "packets": 50,
        "lost": 0,
        "loss_pct": 0.0,
    }
    last.update({"up": 1, **sample})
    return {"src": src, "dst": dst, "role": "receiver", "state": state_name, "last_sample": last}


UNITS = [
    {"name": "syntraf-probe@voip.service", "load": "loaded", "active": "active", "sub": "running"},
    {"name": "syntraf.target", "load": "loaded", "active": "active", "sub": "active"},
]


def test_grid_rows_are_senders_columns_receivers_with_loss_jitter_and_outages() -> None:
    results = {
        "a": {
            "now": 1000.0,
            "units": UNITS,
            "states": [state("a", "voip", [received("b", "a", jitter_ms=0.5, loss_pct=2.0)])],
            "errors": [],
        },
        "b": {
            "now": 1000.0,
            "units": UNITS,
            "states": [
                state(
                    "b",
                    "voip",
                    [
                        received("a", "b", "outage", up=0, loss_pct=100.0),
                        {"src": "b", "dst": "a", "role": "sender", "state": "sending"},
                    ],
                )
            ],
            "errors": [],
        },
    }
    report = build_report(results, {}, planned=[("voip", "a", "b"), ("voip", "b", "a"), ("voip", "c", "a")])
    text = format_text(report)
    lines = text.splitlines()
    assert lines[1].split() == ["sender", "\\", "receiver", "a", "b"]
    assert lines[2].split() == ["a", "-", "OUTAGE"]
    assert lines[3].split() == ["b", "2.0%", "0.50ms", "-"]
    assert lines[4].split() == ["c", "no", "data", "-"]
    assert "a  last sample 5 s ago; syntraf-probe@voip.service active/running" in text
    assert report.healthy
    cells = {(edge.src, edge.dst): edge for edge in report.groups["voip"]}
    assert cells[("a", "b")].outage and not cells[("b", "a")].outage and cells[("c", "a")].state == "no data"


def test_unreachable_hosts_and_unreadable_state_files_are_reported_and_unhealthy() -> None:
    results = {
        "a": {"now": 10.0, "units": [], "states": [], "errors": ["/run/syntraf/x.state.json: bad JSON"]}
    }
    report = build_report(results, {"b": "Failed to connect to the host via ssh"})
    text = format_text(report)
    assert "b  UNREACHABLE: Failed to connect to the host via ssh" in text
    assert "a  last sample never; no syntraf unit; /run/syntraf/x.state.json: bad JSON" in text
    assert not report.healthy
    assert report.to_json()["hosts"][1] == {
        "host": "b",
        "reachable": False,
        "error": "Failed to connect to the host via ssh",
        "units": {},
        "last_sample_age_s": None,
    }


def test_a_rotating_group_shows_when_each_pair_was_last_measured() -> None:
    """a receives b -> a now and keeps c -> a idle (measured 40 s ago); d -> a was never measured."""
    edges = [received("b", "a"), received("c", "a", "idle", time=960.0, loss_pct=1.0)]
    results = {"a": {"now": 1000.0, "units": UNITS, "states": [state("a", "ring", edges)], "errors": []}}
    planned = [("ring", src, "a") for src in "bcd"]
    text = format_text(build_report(results, {}, planned, rotating=["ring"]))
    lines = text.splitlines()
    assert lines[6] == "group ring: last measured (rotating: each pair runs in its epochs only)"
    assert [line.split() for line in lines[8:11]] == [
        ["b", "5", "s", "ago"],
        ["c", "40", "s", "ago"],
        ["d", "never"],
    ]
    assert lines[3].split() == ["c", "1.0%", "0.02ms"]  # the idle pair's last loss and jitter
    assert "last measured" not in format_text(build_report(results, {}, planned))  # a full mesh: no such grid
