"""The probe owns its schema: a Config written by its own writer reads back as the same Config, every
optional part included, and its revision follows its content."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from syntraf_probe.config import (
    EDGE_FIELDS,
    Auth,
    Config,
    ConfigError,
    Database,
    Echo,
    Edge,
    Iperf3Settings,
    Spool,
    parse_config,
)
from syntraf_probe.config_json import config_json, config_revision, with_revision
from syntraf_probe.schedule import Schedule

PATH = "/etc/syntraf/voip.json"


def edge(src: str, dst: str, port: int) -> Edge:
    return Edge(
        group="voip",
        src=src,
        dst=dst,
        listener=src,
        initiator=dst,
        mode="reverse",
        port=port,
        connect_address=f"{src}.example.net",
        src_address=f"{src}.example.net",
        dst_address=f"{dst}.example.net",
        bandwidth_bps=68800,
        packet_size=172,
        packets_per_second=50.0,
        dscp=46,
        interval=1.0,
        pkcs1_padding=src == "b",
    )


def full_config() -> Config:
    return with_revision(
        Config(
            path=PATH,
            revision="",
            host="a",
            group="voip",
            address="a.example.net",
            iperf3=Iperf3Settings("/usr/bin/iperf3", 300, 3000),
            auth=Auth(120, "/etc/syntraf/auth/key.pem", "/etc/syntraf/auth/users.csv", "syntraf-a", "/p"),
            edges=(edge("b", "a", 15000), edge("c", "a", 15001)),
            databases=(
                Database(
                    "main", "https://db:8086", "noc", "syntraf", "/etc/syntraf/secrets/main.token", None, True
                ),
            ),
            spool=Spool("/var/lib/syntraf/spool/voip", 10_000_000),
            state_path="/run/syntraf/voip.state.json",
            log_level="info",
            echo=Echo(25300, 2, "g711"),
            schedule=Schedule(10, 1_700_000_000, 1, ("a", "b", "c")),
        )
    )


def test_a_written_config_reads_back_as_the_same_config() -> None:
    config = full_config()
    assert parse_config(json.dumps(config_json(config)), PATH) == config


def test_optional_parts_are_left_out_and_still_read_back() -> None:
    config = with_revision(dataclasses.replace(full_config(), auth=None, echo=None, schedule=None))
    data = config_json(config)
    assert "echo" not in data and "schedule" not in data and data["auth"] is None
    assert parse_config(json.dumps(data), PATH) == config


def test_the_revision_is_the_hash_of_the_content() -> None:
    config = full_config()
    assert config.revision == config_revision(config_json(config))
    other = with_revision(dataclasses.replace(config, log_level="debug"))
    assert other.revision != config.revision
    assert with_revision(config).revision == config.revision


def test_a_rotating_groups_edges_are_written_as_a_table_and_read_back() -> None:
    config = full_config()  # it has a schedule
    data = config_json(config)
    assert data["edge_fields"] == list(EDGE_FIELDS)
    assert [list(row) for row in data["edges"]] == [
        [getattr(edge, name) for name in EDGE_FIELDS] for edge in config.edges
    ]
    assert parse_config(json.dumps(data), PATH).edges == config.edges


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda data: data["edge_fields"].reverse(), "key edge_fields:"),
        (lambda data: data["edges"][1].pop(), "key edges[1]:"),
        (lambda data: data["edges"].__setitem__(0, {"src": "b"}), "key edges[0]:"),
        (lambda data: data["edges"][1].__setitem__(EDGE_FIELDS.index("port"), 0), "key edges[1].port:"),
        (lambda data: data["edges"][0].__setitem__(EDGE_FIELDS.index("mode"), "sideways"), "edges[0].mode"),
    ],
)
def test_a_bad_edge_table_is_refused_naming_the_key(change, key) -> None:
    data = json.loads(json.dumps(config_json(full_config())))
    change(data)
    with pytest.raises(ConfigError, match=re.escape(key)):
        parse_config(json.dumps(data), PATH)


@pytest.mark.parametrize("epoch", [9, 86401, 10.5])
def test_an_epoch_outside_the_bounds_syntraf_ctl_validates_with_is_refused(epoch) -> None:
    """The probe took any epoch of 1 s or more while syntraf-ctl refused under 10 s: one bound for both."""
    data = json.loads(json.dumps(config_json(full_config())))
    data["schedule"]["epoch_seconds"] = epoch
    with pytest.raises(ConfigError, match=re.escape("schedule.epoch_seconds")):
        parse_config(json.dumps(data), PATH)
