"""The WAN lab's network with real packets: the delay line's accuracy, each impairment against the
emulator's ground-truth counters, and NAT. Datagrams carry their send time (one machine, one clock)."""

from __future__ import annotations

import json
import re
import statistics
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest
from netns_sockets import tcp_socket
from udp_flows import RECEIVE_PORT, Receiver, endpoint, send, send_and_receive

from syntraf_ctl.lab.network import netns_run, nft_apply, nft_delete_table
from syntraf_ctl.lab.state import LabState
from syntraf_ctl.lab.wan.control import set_links, show
from syntraf_ctl.lab.wan.topology import router_uplink_address

pytestmark = [pytest.mark.lab, pytest.mark.netns]

FLOW_KEY = ("protocol", "source", "source_port", "destination", "destination_port")
RATE = 100  # datagrams per second: a couple of the lab's VoIP edges (50 pps each)


def truth(state: LabState, sender: str, source_port: int, receiver: str) -> dict[str, int]:
    """The emulator's counters of the UDP flow from `sender`'s source_port to `receiver`'s RECEIVE_PORT."""
    wanted = (
        "udp",
        state.host(sender).wan_address,
        source_port,
        state.host(receiver).wan_address,
        RECEIVE_PORT,
    )
    for flow in show(state)["flows"]:
        if tuple(flow[key] for key in FLOW_KEY) == wanted:
            return flow
    raise AssertionError(f"the emulator saw no flow {wanted}")


@pytest.fixture
def link_ab(wan_network: LabState) -> Iterator[LabState]:
    """Link a>b for one test: whatever the test sets, it is clean again (20 ms) afterwards."""
    try:
        yield wan_network
    finally:
        set_links(wan_network, "a-b", ["clean", "delay=20ms"])


@pytest.mark.parametrize(
    ("sender", "receiver", "delay_ms"),
    [("lab1", "lab2", 0), ("lab1", "lab3", 20), ("lab4", "lab1", 75), ("lab4", "lab3", 150)],
    ids=["same-site", "a>b-20ms", "c>a-75ms", "c>b-150ms"],
)
def test_one_way_delay_is_accurate(
    wan_network: LabState, sender: str, receiver: str, delay_ms: float
) -> None:
    _, arrivals = send_and_receive(endpoint(wan_network, sender), endpoint(wan_network, receiver), 300, RATE)
    delays = sorted(arrivals.delays_ms)
    assert len(delays) == 300
    median, p99 = statistics.median(delays), delays[int(0.99 * len(delays)) - 1]
    print(f"{sender}->{receiver} {delay_ms} ms: median {median:.2f}, p99 {p99:.2f}, max {delays[-1]:.2f} ms")
    assert delay_ms <= delays[0]
    assert median <= delay_ms + 1
    assert p99 <= delay_ms + 5


def test_delay_changes_at_runtime_and_applies_to_tcp(link_ab: LabState) -> None:
    set_links(link_ab, "a-b", ["delay=100ms"])
    _, arrivals = send_and_receive(endpoint(link_ab, "lab1"), endpoint(link_ab, "lab3"), 100, RATE)
    assert 100 <= statistics.median(arrivals.delays_ms) <= 101
    listener = tcp_socket(link_ab.host("lab3").netns)
    client = tcp_socket(link_ab.host("lab1").netns)
    with listener, client:
        listener.bind((link_ab.host("lab3").wan_address, RECEIVE_PORT))
        listener.listen(1)
        started = time.monotonic()
        client.connect((link_ab.host("lab3").wan_address, RECEIVE_PORT))  # SYN there, SYN-ACK back
        assert time.monotonic() - started >= 0.2


def test_random_loss_matches_its_ground_truth(link_ab: LabState) -> None:
    set_links(link_ab, "a>b", ["loss=10%"])
    port, arrivals = send_and_receive(endpoint(link_ab, "lab1"), endpoint(link_ab, "lab3"), 1000, 500)
    counted = truth(link_ab, "lab1", port, "lab3")
    assert counted["received"] == 1000
    assert counted["dropped"] == 1000 - len(arrivals.sequence) == 1000 - counted["forwarded"]
    assert 40 <= counted["dropped"] <= 160  # 10 % of 1000: mean 100, standard deviation 9.5


def test_bursty_loss_drops_runs(link_ab: LabState) -> None:
    set_links(link_ab, "a>b", ["burst=2%", "burst_len=5"])
    port, arrivals = send_and_receive(endpoint(link_ab, "lab1"), endpoint(link_ab, "lab3"), 2000, 500)
    counted = truth(link_ab, "lab1", port, "lab3")
    assert counted["dropped"] == 2000 - len(arrivals.sequence) > 0
    missing = sorted(set(range(2000)) - set(arrivals.sequence))
    runs = 1 + sum(1 for a, b in zip(missing, missing[1:]) if b != a + 1)
    assert len(missing) / runs >= 2  # mean run 5 datagrams (independent loss would give about 1)


def test_duplication_matches_its_ground_truth(link_ab: LabState) -> None:
    set_links(link_ab, "a>b", ["dup=10%"])
    port, arrivals = send_and_receive(endpoint(link_ab, "lab1"), endpoint(link_ab, "lab3"), 500, 250)
    counted = truth(link_ab, "lab1", port, "lab3")
    assert set(arrivals.sequence) == set(range(500))
    assert counted["duplicated"] == len(arrivals.sequence) - 500 > 0
    assert counted["dropped"] == 0


def test_reordering_matches_its_ground_truth(link_ab: LabState) -> None:
    set_links(link_ab, "a>b", ["reorder=10%"])
    port, arrivals = send_and_receive(endpoint(link_ab, "lab1"), endpoint(link_ab, "lab3"), 500, 250)
    counted = truth(link_ab, "lab1", port, "lab3")
    assert sorted(arrivals.sequence) == list(range(500))
    assert counted["reordered"] == arrivals.out_of_order > 0  # each swapped datagram arrives after the next


def test_hold_releases_everything_in_order(link_ab: LabState) -> None:
    set_links(link_ab, "a>b", ["hold=on"])
    receiver = Receiver(endpoint(link_ab, "lab3"))
    try:
        port = send(endpoint(link_ab, "lab1"), link_ab.host("lab3").wan_address, 100, RATE)
        assert show(link_ab)["links"]["a>b"]["held"] == 100
        assert receiver.arrivals.sequence == []
        set_links(link_ab, "a>b", ["hold=off"])
    finally:
        arrivals = receiver.stop(quiet=1.0)
    counted = truth(link_ab, "lab1", port, "lab3")
    assert arrivals.sequence == list(range(100))
    assert (counted["forwarded"], counted["dropped"]) == (100, 0)


def test_blackhole_drops_everything(link_ab: LabState) -> None:
    set_links(link_ab, "a>b", ["blackhole=on"])
    port, arrivals = send_and_receive(endpoint(link_ab, "lab1"), endpoint(link_ab, "lab3"), 100, RATE)
    counted = truth(link_ab, "lab1", port, "lab3")
    assert arrivals.sequence == []
    assert (counted["dropped"], counted["forwarded"]) == (100, 0)


COUNT_DSCP = f"""
table inet wan_test_dscp {{
  chain input {{ type filter hook input priority 0; policy accept;
    udp dport {RECEIVE_PORT} ip dscp ef counter
    udp dport {RECEIVE_PORT} ip dscp cs0 counter
  }}
}}
"""


def test_remarking_changes_dscp_seen_by_the_receiver(link_ab: LabState) -> None:
    receiver_netns = link_ab.host("lab3").netns
    nft_delete_table(receiver_netns, "inet", "wan_test_dscp")  # a killed run's
    nft_apply(receiver_netns, COUNT_DSCP)
    try:
        set_links(link_ab, "a>b", ["remark=ef:cs0"])
        port, arrivals = send_and_receive(
            endpoint(link_ab, "lab1"), endpoint(link_ab, "lab3"), 100, RATE, tos=46 << 2
        )
        listed = netns_run(receiver_netns, ["nft", "list", "table", "inet", "wan_test_dscp"]).stdout
    finally:
        nft_delete_table(receiver_netns, "inet", "wan_test_dscp")
    counters = [int(line.split("packets")[1].split()[0]) for line in listed.splitlines() if "counter" in line]
    assert len(arrivals.sequence) == 100
    assert counters == [0, 100]  # ef, cs0
    counted = truth(link_ab, "lab1", port, "lab3")
    assert counted["remarked"] == 100


def test_nat_site_reaches_out_as_its_router_and_nothing_reaches_in(wan_network: LabState) -> None:
    inside, outside = wan_network.host("lab4"), wan_network.host("lab1")
    listener = tcp_socket(outside.netns)
    with listener:
        listener.bind((outside.wan_address, RECEIVE_PORT))
        listener.listen(1)
        with tcp_socket(inside.netns) as client:
            client.settimeout(5)
            client.connect((outside.wan_address, RECEIVE_PORT))
            accepted, (source, _) = listener.accept()
            accepted.close()
    assert source == router_uplink_address(3)  # site c's router, not the host's 198.18.3.14

    inner_listener = tcp_socket(inside.netns)
    with inner_listener:
        inner_listener.bind(("0.0.0.0", RECEIVE_PORT))
        inner_listener.listen(1)
        for target in (inside.wan_address, router_uplink_address(3)):
            with tcp_socket(outside.netns) as client:
                client.settimeout(1.5)  # c is 75 ms away: an answer would come within 0.2 s
                with pytest.raises(OSError):
                    client.connect((target, RECEIVE_PORT))
        inner_listener.settimeout(0.1)
        with pytest.raises(TimeoutError):
            inner_listener.accept()


def test_command_line_sets_and_shows_links(link_ab: LabState) -> None:
    def ctl(*args: str) -> subprocess.CompletedProcess:
        argv = [sys.executable, "-m", "syntraf_ctl.cli", "lab", "wan", *args, "--name", link_ab.name]
        return subprocess.run(argv, capture_output=True, text=True, timeout=60)

    changed = ctl("set", "a>b", "delay=30ms", "loss=2%")
    assert changed.returncode == 0, changed.stderr
    assert re.search(r"^a>b .* delay=30ms loss=2%$", changed.stdout, re.MULTILINE)
    assert re.search(r"^b>a .* delay=20ms$", changed.stdout, re.MULTILINE)
    shown = json.loads(ctl("show", "--json").stdout)
    assert shown["links"]["a>b"]["settings"]["loss_pct"] == 2.0
    refused = ctl("set", "a>d", "delay=1ms")
    assert refused.returncode == 1 and "no site d" in refused.stderr
