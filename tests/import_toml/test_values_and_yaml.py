"""Value parsing as the original accepted it, and the YAML writer reading back to the same data."""

from __future__ import annotations

import pytest
import yaml
from ansible.parsing.utils.yaml import from_yaml

from syntraf_ctl.importer.values import ConfigImportError, bandwidth_bps, format_bandwidth, port_range
from syntraf_ctl.importer.yamlout import Commented, Template, dump, plain


@pytest.mark.parametrize(
    ("value", "bps"),
    [
        ("87.2K", 87_200),
        ("100k", 100_000),
        ("1M", 1_000_000),
        ("1.5m", 1_500_000),
        (68800, 68_800),
        ("33", 33),
    ],
)
def test_bandwidth_suffixes_are_powers_of_1000(value: object, bps: int) -> None:
    assert bandwidth_bps(value, "here") == bps


@pytest.mark.parametrize("value", ["fast", "10 G", "-5k", True, [1], "0", 0])
def test_bad_bandwidth_names_the_place(value: object) -> None:
    with pytest.raises(ConfigImportError, match="^here: "):
        bandwidth_bps(value, "here")


def test_bandwidth_written_short_and_exact() -> None:
    assert [format_bandwidth(b) for b in (100_000, 2_000_000, 87_200, 68_800, 1_500)] == [
        "100k",
        "2m",
        87_200,
        68_800,
        1_500,
    ]


def test_port_range_compared_as_numbers() -> None:
    assert port_range("9000-10000", "here") == "9000-10000"  # the original rejected it (string comparison)
    for bad in ("16000-15000", "0-10", "15000", 15000):
        with pytest.raises(ConfigImportError):
            port_range(bad, "here")


def test_yaml_reads_back_to_the_same_data() -> None:
    data = {
        "all": {
            "vars": {
                "token": Template("{{ vault_x }}"),
                "imported": ["{{ 7 * 6 }}", "{% raw %}", "a {# b"],
                "tricky": ["yes", "0.0.0.0", "15000-16000", "1e3", "a: b", "# not a comment", "null", ""],
                "numbers": {"int": 3, "float": 0.5, "bool": False},
                "databases": [
                    {"name": "x", "url": "https://h:8086"},
                    {"name": "y", "url": "http://[::1]:8086"},
                ],
            },
            "hosts": {"a-1": Commented({"ansible_host": Commented(None, "TODO: fill")}, "note"), "b": None},
            "children": {"empty": {}, "lab": {"hosts": {"a-1": None}}},
        }
    }
    text = dump(data, "first line\nsecond line")
    assert text.startswith("# first line\n# second line\n---\n")
    assert "ansible_host:  # TODO: fill" in text
    assert yaml.safe_load(text.replace("!unsafe ", "")) == plain(data)
    assert from_yaml(text) == plain(data)  # Ansible's own loader
    assert "token: '{{ vault_x }}'" in text  # the importer's template stays one
    assert text.count("!unsafe") == 3  # imported data never is
