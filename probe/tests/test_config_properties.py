"""Generated probe configs: the probe's loader accepts a config, and then every number is within the bounds
(syntraf_probe.bounds), or `syntraf-probe` exits 2 with a message; never a traceback. The budget is bounded
for CI: SYNTRAF_PROPERTY_EXAMPLES (default 100) examples."""

from __future__ import annotations

import json
import math
import os
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from labkit import config, edge
from syntraf_probe.bounds import BOUNDS
from syntraf_probe.cli import main
from syntraf_probe.config import ConfigError, parse_config

BUDGET = settings(
    max_examples=int(os.environ.get("SYNTRAF_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)
ADDRESSES = {"a": "198.51.100.11", "b": "198.51.100.12"}
ANY = st.one_of(
    st.integers(-10, 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.booleans(),
    st.none(),
    st.text(max_size=12),
)
URLS = st.one_of(
    st.sampled_from(["http://127.0.0.1:9", "https://h:8086", "http://[::1]:1", "http://h:99999", "ftp://h"]),
    st.builds("http://{}:{}".format, st.text(max_size=8), st.integers(-5, 70_000)),
    st.text(max_size=24),
)
# (path in the config, values): edge numbers, iperf3 and spool settings, and a few keys of other kinds.
FIELDS = {
    **{("edges", 0, key.split(".")[-1]): ANY for key in BOUNDS if key.startswith("edges[].")},
    ("iperf3", "test_duration"): ANY,
    ("iperf3", "connect_timeout_ms"): ANY,
    ("spool", "max_bytes"): ANY,
    ("databases", 0, "url"): URLS,
    ("log_level",): st.one_of(st.sampled_from(["info", "loud"]), ANY),
    ("edges", 0, "mode"): st.one_of(st.sampled_from(["forward", "reverse", "sideways"]), ANY),
}


@pytest.fixture(scope="module")
def base(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A valid config (its token file in a temporary directory), as JSON."""
    directory = tmp_path_factory.mktemp("probe-config")
    return json.dumps(config(directory, "b", "g", [edge(ADDRESSES, "g", "a", "b", 15001)], "http://h:1"))


@st.composite
def changes(draw: st.DrawFn, text: str) -> dict:
    """The config `text` with up to three values changed or removed."""
    cfg = json.loads(text)
    for path in draw(st.lists(st.sampled_from(sorted(FIELDS, key=str)), max_size=3, unique=True)):
        target = cfg
        for step in path[:-1]:
            target = target[step]
        if draw(st.integers(0, 9)) == 9:
            del target[path[-1]]
        else:
            target[path[-1]] = draw(FIELDS[path])
    return cfg


@BUDGET
@given(data=st.data())
def test_a_config_is_accepted_within_bounds_or_refused_with_exit_2(base: str, data: st.DataObject) -> None:
    text = json.dumps(data.draw(changes(base)))
    try:
        loaded = parse_config(text, "g.json")
    except ConfigError as error:
        event("refused")
        assert str(error).startswith("config g.json: ")
        with tempfile.TemporaryDirectory() as directory:
            path = Path(directory, "g.json")
            path.write_text(text)
            assert main(["--config", str(path)]) == 2
        return
    event("accepted")
    for key, bound in BOUNDS.items():
        section, name = key.split(".")
        values = (
            [getattr(e, name) for e in loaded.edges]
            if section == "edges[]"
            else [getattr(getattr(loaded, section), name)]
            if getattr(loaded, section)
            else []
        )
        for value in values:
            assert math.isfinite(value) and bound.low <= value <= bound.high, (key, value)
