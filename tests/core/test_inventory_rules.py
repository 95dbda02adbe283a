"""Review cases about what the inventory says: shared addresses (C10b), unknown variables (P3b), and each
problem reported once (B3)."""

from __future__ import annotations

import pytest

ADDRESS = "127.0.0.1"


def problem_lines(err: str) -> list[str]:
    return [line for line in err.splitlines() if line.startswith("  - ")]


def test_hosts_at_one_address_with_overlapping_ranges_are_refused(review):  # C10b
    review.file(
        "hosts.yml",
        "all: {children: {voip: {hosts: {a12: {ansible_host: 127.0.0.1}, a13: {ansible_host: 127.0.0.1}, "
        "a14: {ansible_host: 127.0.0.1, syntraf_listen_port_range: 20000-20999}}}}}\n",
    )
    code, _, err = review.run("plan")
    assert code == 2
    lines = problem_lines(err)
    assert len(lines) == 2, err
    assert "hosts.yml:1: host a12: syntraf_listen_port_range: a12 has the address 127.0.0.1 of a13" in err
    assert "host a13" in err and "a14" not in err


def test_hosts_at_one_address_with_disjoint_ranges_or_behind_nat_are_fine(review):
    review.file(
        "hosts.yml",
        "all: {children: {voip: {hosts: {"
        "a12: {ansible_host: 127.0.0.1, syntraf_listen_port_range: 15000-15499}, "
        "a13: {ansible_host: 127.0.0.1, syntraf_listen_port_range: 15500-15999}, "
        "n1: {ansible_host: 127.0.0.9, syntraf_behind_nat: true}, "
        "n2: {ansible_host: 127.0.0.9, syntraf_behind_nat: true}}}}}\n",
    )
    assert review.run("plan")[0] == 0


@pytest.mark.parametrize(
    ("where", "text", "meant"),
    [
        ("host_vars/a1.yml", "syntraf_behind_nats: true\n", "syntraf_behind_nat"),
        ("host_vars/a1.yml", "syntraf_exlude: {voip: [a2]}\n", "syntraf_exclude"),
        ("host_vars/a1.yml", "syntraf_max_bandwith: 10k\n", "syntraf_max_bandwidth"),
        ("group_vars/voip.yml", "syntraf_listen_port_rang: 15000-15999\n", "syntraf_listen_port_range"),
        ("group_vars/all/typo.yml", "syntraf_mesh_group: {}\n", "syntraf_mesh_groups"),
    ],
)
def test_unknown_syntraf_variables_are_refused_with_a_suggestion(review, where, text, meant):  # P3b
    review.file(where, text)
    code, _, err = review.run("plan")
    assert code == 2
    lines = problem_lines(err)
    assert len(lines) == 1, err  # once, even when every host sees it
    assert f"{where}:1" in lines[0] and f"unknown syntraf variable; did you mean {meant}?" in lines[0]


def test_role_and_playbook_variables_are_known(review):
    review.file("group_vars/all/role.yml", "syntraf_probe_install_iperf3: false\nsyntraf_hosts: voip\n")
    assert review.run("plan")[0] == 0


@pytest.mark.parametrize(
    ("hosts", "value", "expected"),
    [
        (3, "syntraf_log_level: loud", "host a1, host a2, host a3: syntraf_log_level: expected one of debug"),
        (  # at scale: a few names and how many more
            200,
            "syntraf_test_duration: 1",
            "host a000, host a001, host a002, host a003, host a004 and 195 more (200 in all): "
            "syntraf_test_duration: 1 s is shorter",
        ),
    ],
)
def test_a_bad_value_in_group_vars_all_is_reported_once(review, hosts, value, expected):  # B3
    if hosts > 3:
        names = ", ".join(f"a{n:03}: {{ansible_host: 10.0.{n // 200}.{n % 200 + 1}}}" for n in range(hosts))
        review.file("hosts.yml", f"all: {{children: {{voip: {{hosts: {{{names}}}}}}}}}\n")
    review.file("group_vars/all/db.yml", value + "\n")
    code, _, err = review.run("plan")
    assert code == 2
    lines = problem_lines(err)
    assert len(lines) == 1, err
    assert lines[0].startswith(f"  - inv/group_vars/all/db.yml:1: {expected}")


def test_every_problem_of_every_stage_at_once(review):  # AO1
    review.file("host_vars/a1.yml", "syntraf_log_level: verbose\n")  # model stage
    review.file("host_vars/a2.yml", "syntraf_listen_port_range: 15000-15000\n")  # ports: it listens for 2
    review.file("host_vars/a3.yml", "syntraf_max_bandwidth: 100k\n")  # 2 × 68.8k sent
    (review.root / ".syntraf.lock.json").write_text("{damaged")
    code, _, err = review.run("plan")
    assert code == 2
    lines = problem_lines(err)
    assert len(lines) == 4, err
    for fragment in ("syntraf_log_level: expected", "port exhaustion", "more than its maximum", "lock"):
        assert any(fragment in line for line in lines), (fragment, err)
