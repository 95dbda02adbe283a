"""The probe owns its schema: a Config written by its own writer reads back as the same Config, every
optional part included, a rotating group's table form too (expanded to exactly the edges it describes), and
its revision follows its content."""

from __future__ import annotations

import dataclasses
import json
import re

import pytest
from syntraf_probe.config import (
    Auth,
    Config,
    ConfigError,
    Database,
    Echo,
    Edge,
    GroupTable,
    Iperf3Settings,
    PeerTable,
    Spool,
    parse_config,
)
from syntraf_probe.config_json import config_text, with_revision
from syntraf_probe.schedule import Schedule

PATH = "/etc/syntraf/voip.json"
TRAFFIC = {
    "bandwidth_bps": 68800,
    "packet_size": 172,
    "packets_per_second": 50.0,
    "dscp": 46,
    "interval": 1.0,
}


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
        **TRAFFIC,
        pkcs1_padding=src == "b",
    )


def full_config(**parts) -> Config:
    listed = {
        "listed_edges": (edge("b", "a", 15000), edge("c", "a", 15001)),
        "schedule": Schedule(10, 1_700_000_000, 1, ("a", "b", "c")),
    }
    return with_revision(
        Config(
            path=PATH,
            revision="",
            host="a",
            group="voip",
            address="a.example.net",
            iperf3=Iperf3Settings("/usr/bin/iperf3", 300, 3000),
            auth=Auth(120, "/etc/syntraf/auth/key.pem", "/etc/syntraf/auth/users.csv", "syntraf-a", "/p"),
            databases=(
                Database(
                    "main", "https://db:8086", "noc", "syntraf", "/etc/syntraf/secrets/main.token", None, True
                ),
            ),
            spool=Spool("/var/lib/syntraf/spool/voip", 10_000_000),
            state_path="/run/syntraf/voip.state.json",
            log_level="info",
            echo=Echo(25300, 2, "g711"),
            **{**listed, **parts},
        )
    )


MEMBERS = ("a", "b", "c", "d", "e")
GROUP_TABLE = GroupTable(
    addresses=("10.0.0.1", "10.0.0.2", "10.0.0.3", "10.0.0.4", "10.0.0.5"), behind_nat=("a", "c"), **TRAFFIC
)
# a -> b, b -> a, a -> d (d -> a left out, say by the auth rule); c is behind NAT like a: no pair; none with e
PEER_TABLE = PeerTable(
    ports_out=(None, 15000, None, 15001, None),
    ports_in=(None, 16000, None, None, None),
    pkcs1_padding=(("b", "a"),),
    connect_addresses=(("a", "d", "192.0.2.4"),),
)


def table_config() -> Config:
    return full_config(
        listed_edges=(),
        schedule=Schedule(10, 0, 2, MEMBERS),
        group_table=GROUP_TABLE,
        peer_table=PEER_TABLE,
    )


def written(config: Config) -> dict:
    return json.loads(config_text(config))


def test_a_written_config_reads_back_as_the_same_config() -> None:
    config = full_config()
    assert parse_config(config_text(config), PATH) == config


def test_optional_parts_are_left_out_and_still_read_back() -> None:
    config = with_revision(dataclasses.replace(full_config(), auth=None, echo=None, schedule=None))
    data = written(config)
    assert "echo" not in data and "schedule" not in data and data["auth"] is None
    assert parse_config(config_text(config), PATH) == config


def test_the_revision_is_the_hash_of_the_content() -> None:
    config = full_config()
    other = with_revision(dataclasses.replace(config, log_level="debug"))
    assert other.revision != config.revision
    assert with_revision(config).revision == config.revision
    tables = table_config()
    nat = dataclasses.replace(GROUP_TABLE, behind_nat=("a",))
    port = dataclasses.replace(PEER_TABLE, ports_in=(None, 16001, None, None, None))
    for changed in (
        dataclasses.replace(tables, group_table=nat),
        dataclasses.replace(tables, peer_table=port),
    ):
        assert with_revision(changed).revision != tables.revision


def test_the_table_form_reads_back_and_expands_to_exactly_its_edges() -> None:
    config = table_config()
    data = written(config)
    assert "edges" not in data and data["group_table"]["behind_nat"] == ["a", "c"]
    loaded = parse_config(config_text(config), PATH)
    assert loaded == config

    def expected(src, dst, port, listener, mode, connect, pkcs1=False):
        address = dict(zip(MEMBERS, GROUP_TABLE.addresses))
        initiator = dst if listener == src else src
        return Edge("voip", src, dst, listener, initiator, mode, port, connect, address[src], address[dst],
                    **TRAFFIC, pkcs1_padding=pkcs1)  # fmt: skip

    assert loaded.edges == (
        expected("a", "b", 15000, "b", "forward", "10.0.0.2"),  # a is behind NAT: it initiates
        expected("b", "a", 16000, "b", "reverse", "10.0.0.2", pkcs1=True),
        expected("a", "d", 15001, "d", "forward", "192.0.2.4"),
    )


def malformed(change) -> dict:
    data = written(table_config())
    change(data)
    return data


@pytest.mark.parametrize(
    "change, key",
    [
        (lambda d: d["peer_table"]["ports_out"].pop(), "key peer_table.ports_out: expected 5 ports"),
        (lambda d: d["peer_table"]["ports_out"].__setitem__(1, 0), "key peer_table.ports_out[1].port:"),
        (lambda d: d["peer_table"]["ports_in"].__setitem__(1, "16000"), "key peer_table.ports_in[1].port:"),
        (
            lambda d: d["peer_table"]["ports_out"].__setitem__(0, 15009),
            "key peer_table.ports_out[0]: expected null",
        ),
        (
            lambda d: d["peer_table"]["ports_out"].__setitem__(2, 15009),
            "ports_out[2]: expected null: a and c",
        ),
        (lambda d: d["peer_table"]["pkcs1_padding"].append(["a", "e"]), "key peer_table.pkcs1_padding[1]:"),
        (lambda d: d["peer_table"]["pkcs1_padding"].append(["b", "a"]), "key peer_table.pkcs1_padding[1]:"),
        (lambda d: d["peer_table"]["connect_addresses"][0].pop(), "key peer_table.connect_addresses[0]:"),
        (lambda d: d["peer_table"].pop("ports_in"), "key peer_table.ports_in: missing"),
        (lambda d: d["group_table"]["addresses"].pop(), "key group_table.addresses: expected 5"),
        (lambda d: d["group_table"]["behind_nat"].append("z"), "key group_table.behind_nat:"),
        (lambda d: d["group_table"].__setitem__("dscp", 64), "key group_table.dscp:"),
        (lambda d: d.__setitem__("group_table", []), "key group_table: expected dict"),
        (lambda d: d.__setitem__("edges", []), "key edges: a config has either edges or group_table"),
        (lambda d: d.pop("schedule"), "key group_table: the table form needs the schedule"),
    ],
)
def test_a_bad_table_is_refused_naming_the_key(change, key) -> None:
    with pytest.raises(ConfigError, match=re.escape(key)):
        parse_config(json.dumps(malformed(change)), PATH)


@pytest.mark.parametrize("epoch", [9, 86401, 10.5])
def test_an_epoch_outside_the_bounds_syntraf_ctl_validates_with_is_refused(epoch) -> None:
    """The probe took any epoch of 1 s or more while syntraf-ctl refused under 10 s: one bound for both."""
    data = written(full_config())
    data["schedule"]["epoch_seconds"] = epoch
    with pytest.raises(ConfigError, match=re.escape("schedule.epoch_seconds")):
        parse_config(json.dumps(data), PATH)
