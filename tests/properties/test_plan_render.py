"""Generated inventories, valid and broken in the review's shapes (bad-input.md): `plan` and `render` exit 0
or 2 and never trace back, exit 2 writes nothing, and a plan that validates renders configs that the probe's
own loader accepts. The budget is bounded for CI: SYNTRAF_PROPERTY_EXAMPLES (default 100) examples each."""

from __future__ import annotations

import contextlib
import io
import os
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from syntraf_probe.config import load_config

from syntraf_ctl.cli import main

BUDGET = settings(
    max_examples=int(os.environ.get("SYNTRAF_PROPERTY_EXAMPLES", "100")),
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
)

# Each key's YAML value is drawn from valid texts, or (one time in eight) from the review's broken ones.
RATES = (  # two of bandwidth, packet_size and packets_per_second (or none: the defaults)
    ["", "bandwidth: 100k, packet_size: 32, ", "packet_size: 172, packets_per_second: 50, ",
     "bandwidth: 1m, packets_per_second: 100, ", "packet_size: 1000, packets_per_second: 0.5, "],
    ["packet_size: 16, packets_per_second: 0.001, ", "bandwidth: 1, packet_size: 1000, ",  # C13, C13b
     "bandwidth: 200g, packet_size: 1000, ", "bandwidth: 10g, packet_size: 16, ",  # C14
     "packet_size: 100, packets_per_second: .inf, ", "packet_size: 100, packets_per_second: .nan, ",  # C13c/d
     "bandwidth: 0, packet_size: 100, ", "bandwidth: 1m, ", "bandwidth: 1k, packet_size: 70000, ",
     "bandwidth: '10 G', packet_size: 100, ", "bandwidth: 1m, packet_size: 100, packets_per_second: 10, "],
)  # fmt: skip
OTHER_TRAFFIC = {
    "dscp": (["0", "46", "ef"], ["af44", "64", ".nan"]),
    "interval": (["1", "10"], ["0.05", ".inf"]),
}
HOST_VARS = {
    "syntraf_listen_port_range": (["15000-16000", "20000-20010"], ["15000-15000", "16000-15000", "0-10"]),
    "syntraf_spool_max_bytes": (["67108864", "1048576"], ["2000000000000", "10", ".nan"]),
    "syntraf_log_level": (["info", "debug"], ["verbose"]),
    "syntraf_iperf3_version": (["'3.20'", "'3.12'"], ["3.20", "3.10", "3.1x"]),
    "syntraf_max_bandwidth": (["1g", "10m"], ["0", "1k", ".inf"]),
    "syntraf_test_duration": (["300", "60"], ["1", "0", "86401"]),
    "syntraf_behind_nat": (["true", "false"], ["maybe"]),
    "syntraf_iperf3_auth": (["true", "false"], ["'perhaps'"]),
}
TYPOS = ["syntraf_behind_nats: true", "syntraf_exlude: {voip: [a2]}", "syntraf_max_bandwith: 10k"]  # P3b
ADDRESSES = ([], ["10.0.0.999", "'-bad-'", "null", "127.0.0.1"])  # valid: each host its own, below
HOST_NAMES = ([], ["plan.json", "h" * 300, "voip"])  # C8, C9, H1; valid: a0, a1, ...
MEMBERS = (["", "members: voip, "], ["members: vio, "])  # TY1: a pattern that matches no host
URLS = (
    ['"http://127.0.0.1:9"', '"https://influx.example.net:8086"', '"http://[::1]:8086"'],
    ['"http://influx host:8086"', '"https://h:99999"', '"http://:8086"', '"http://influx:8086\\nX-Evil: 1"'],
)


def pick(draw: st.DrawFn, choices: tuple[list[str], list[str]], valid: str | None = None) -> str:
    """A valid value (or `valid`) seven times in eight, else a broken one."""
    good, bad = choices
    good = [valid] if valid is not None else good
    return draw(st.sampled_from(bad if not good or draw(st.integers(0, 7)) == 7 else good))


@st.composite
def inventories(draw: st.DrawFn) -> dict[str, str]:
    """Files of an inventory directory: hosts.yml, group_vars/all/main.yml and maybe host_vars."""
    count = draw(st.integers(1, 4))
    hosts = []
    for index in range(count):
        extra = ""
        if draw(st.integers(0, 3)) == 3:
            extra = ", " + host_setting(draw)
        address = pick(draw, ADDRESSES, valid=f"127.0.0.{index + 1}")
        name = pick(draw, HOST_NAMES, valid=f"a{index}")
        hosts.append(f"        {name}: {{ansible_host: {address}{extra}}}")
    hosts_yml = "all:\n  children:\n    voip:\n      hosts:\n" + "\n".join(hosts) + "\n"
    others = draw(st.lists(st.sampled_from(sorted(OTHER_TRAFFIC)), unique=True))
    settings_text = (
        pick(draw, MEMBERS)
        + pick(draw, RATES)
        + ", ".join(f"{k}: {pick(draw, OTHER_TRAFFIC[k])}" for k in others)
    )
    if draw(st.integers(0, 9)) == 9:  # C4: a duplicate key
        settings_text += ", dscp: 0, dscp: 46"
    main_yml = (
        f"syntraf_mesh_groups: {{voip: {{{settings_text}}}}}\n"
        f"syntraf_influxdb: [{{url: {pick(draw, URLS)}, org: noc, bucket: syntraf, token: tok}}]\n"
    )
    if draw(st.integers(0, 14)) == 14:  # C1: a YAML syntax error
        hosts_yml = hosts_yml.replace("}", "", 1)
    files = {"hosts.yml": hosts_yml, "group_vars/all/main.yml": main_yml}
    if draw(st.integers(0, 3)) == 3:
        files["host_vars/a0.yml"] = host_setting(draw) + "\n"
    if draw(st.integers(0, 9)) == 9:  # AO1: a damaged lock file
        files[".syntraf.lock.json"] = draw(st.sampled_from(["{damaged", '{"schema": 1, "ports": []}', "[]"]))
    return files


def host_setting(draw: st.DrawFn) -> str:
    """`key: value` of a host variable, sometimes a misspelt one."""
    if draw(st.integers(0, 7)) == 7:
        return draw(st.sampled_from(TYPOS))
    key = draw(st.sampled_from(sorted(HOST_VARS)))
    return f"{key}: {pick(draw, HOST_VARS[key])}"


def run(*args: str) -> tuple[int, str]:
    """Exit status and stderr of syntraf-ctl, in this process: an exception would fail the test."""
    err = io.StringIO()
    with contextlib.redirect_stdout(io.StringIO()), contextlib.redirect_stderr(err):
        code = main(list(args))
    return code, err.getvalue()


def snapshot(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@BUDGET
@given(files=inventories())
def test_plan_and_render_exit_0_or_2_and_what_validates_runs(files: dict[str, str]) -> None:
    with tempfile.TemporaryDirectory() as directory:
        root = Path(directory)
        inventory = root / "inv"
        for relative, text in files.items():
            (inventory / relative).parent.mkdir(parents=True, exist_ok=True)
            (inventory / relative).write_text(text)
        plan_code, plan_err = run("plan", "-i", str(inventory))
        assert plan_code in (0, 2), plan_err
        before = snapshot(root)
        out = root / "out"
        render_code, render_err = run("render", "-i", str(inventory), "-o", str(out))
        assert render_code == plan_code, render_err
        event(f"exit {render_code}")
        if render_code == 2:
            assert snapshot(root) == before, "render wrote files although the inventory is invalid"
            return
        configs = sorted(out.glob("*/etc/syntraf/*.json"))
        for config in configs:
            load_config(str(config))  # the probe's own loader: ConfigError would fail the test
