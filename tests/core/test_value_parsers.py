"""Unit parsers: the original's bugs (string port comparison, bytes for bits, DSCP names) fixed."""

from __future__ import annotations

import pytest

from syntraf_ctl import value_parsers


@pytest.mark.parametrize(
    ("text", "bps"),
    [
        ("100k", 100_000),
        ("100K", 100_000),
        ("1.5m", 1_500_000),
        ("2g", 2_000_000_000),
        (68800, 68800),
        ("68800", 68800),
        (87.2e3, 87200),
        ("0.5k", 500),
    ],
)
def test_bandwidth_is_bits_per_second_with_decimal_suffixes(text, bps):
    assert value_parsers.parse_bandwidth(text) == bps


@pytest.mark.parametrize("text", ["100kb", "fast", "", "-1k", "0", True, None, "1 k m"])
def test_bandwidth_rejects_garbage(text):
    with pytest.raises(ValueError, match="bit/s"):
        value_parsers.parse_bandwidth(text)


@pytest.mark.parametrize(
    ("value", "dscp"),
    [
        (0, 0),
        (63, 63),
        ("46", 46),
        ("ef", 46),
        ("EF", 46),
        ("af11", 10),
        ("af41", 34),
        ("af43", 38),
        ("cs0", 0),
        ("cs5", 40),
        ("cs7", 56),
    ],
)
def test_dscp_accepts_numbers_and_names(value, dscp):
    assert value_parsers.parse_dscp(value) == dscp


@pytest.mark.parametrize("value", [64, -1, "af44", "cs8", 4.5, "voice", True])
def test_dscp_rejects_out_of_range_and_unknown_names(value):
    with pytest.raises(ValueError, match="DSCP"):
        value_parsers.parse_dscp(value)


def test_port_range_is_compared_numerically():
    # The original compared strings, so "9000-10000" was rejected.
    assert value_parsers.parse_port_range("9000-10000") == (9000, 10000)
    assert value_parsers.parse_port_range("15000-15000") == (15000, 15000)


@pytest.mark.parametrize("value", ["10000-9000", "0-100", "1-65536", "15000", 15000, "a-b"])
def test_port_range_rejects_inverted_out_of_range_and_malformed(value):
    with pytest.raises(ValueError):
        value_parsers.parse_port_range(value)


@pytest.mark.parametrize(
    ("value", "ok"), [(0.1, True), (60, True), ("1.5", True), (0.05, False), (61, False)]
)
def test_interval_bounds_are_iperf3s(value, ok):
    if ok:
        assert value_parsers.parse_interval(value) == float(value)
    else:
        with pytest.raises(ValueError, match="0.1-60 s"):
            value_parsers.parse_interval(value)


@pytest.mark.parametrize(
    ("value", "ok"), [(16, True), (65507, True), ("172", True), (15, False), (65508, False), (32.5, False)]
)
def test_packet_size_bounds(value, ok):
    if ok:
        assert value_parsers.parse_packet_size(value) == int(value)
    else:
        with pytest.raises(ValueError, match="16-65507"):
            value_parsers.parse_packet_size(value)


@pytest.mark.parametrize(("value", "result"), [(True, True), ("yes", True), ("False", False), ("0", False)])
def test_booleans_from_yaml_and_ini(value, result):
    assert value_parsers.parse_bool(value) is result


@pytest.mark.parametrize("value", ["192.0.2.1", "2001:db8::1", "probe-1.example.net", "localhost"])
def test_addresses(value):
    assert value_parsers.parse_address(value) == value


@pytest.mark.parametrize("value", ["", "bad host", "-x.example", "1.2.3.999", 42])
def test_addresses_rejected(value):
    with pytest.raises(ValueError, match="IP address or a DNS name"):
        value_parsers.parse_address(value)
