"""Issue 5 on the lab: real systemd hosts (two Debian 12 with iperf3 3.12, one Debian 13 with 3.18), real
SSH and Ansible, real probes and iperf3, a real database. One deployment, the tests in this order:
mixed versions authenticate, strangers are refused, no secret leaks, the unit is hardened, a skewed clock
fails preflight, and rotate-keys loses no interval. lab2 is marked behind NAT: it initiates every edge
it is on, so the edges it sends on run in forward mode (a listener on the receiver), the others in reverse."""

from __future__ import annotations

import json
import re
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.auth.material import pair_password
from syntraf_ctl.auth.scope import host_files
from syntraf_ctl.auth.store import load_store, store_path
from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab.lifecycle import lab_down
from syntraf_ctl.lab.preflight import unmet_requirements
from syntraf_ctl.lab.tsdb import export
from syntraf_ctl.runner import ansible_environment
from tests.support.lab_control import Lab
from tests.support.testlabs import owned_lab_name, reap_abandoned_test_labs, up_on_free_subnet

pytestmark = pytest.mark.lab

SUITES = ("bookworm", "bookworm", "trixie")
TEST_DURATION = 10  # short bounded tests: rotate-keys waits one of them for listeners to switch keys
INTERVAL = 2  # s; a boundary hiccup of the probe (a listener still busy: 1 s retry) never costs an interval
EXPOSURE_MAX = 2.0
SKEW = 3600  # s the faked clock is ahead


def ctl(*args: str) -> subprocess.CompletedProcess:
    """The real command line, as a user runs it."""
    return subprocess.run(
        [sys.executable, "-m", "syntraf_ctl.cli", *args], capture_output=True, text=True, timeout=900
    )


def playbook(inventory: Path, name: str) -> subprocess.CompletedProcess:
    """ansible-playbook as a user runs it by hand: the collection's playbook on a render of `inventory`."""
    with tempfile.TemporaryDirectory(prefix="syntraf-render-") as work:
        done = ctl("render", "-i", str(inventory), "-o", work)
        assert done.returncode == 0, done.stdout + done.stderr
        command = [
            str(Path(sys.executable).parent / "ansible-playbook"),
            "-i",
            str(inventory),
            f"syntraf.mesh.{name}",
            "-e",
            f"syntraf_render_dir={work}",
        ]
        return subprocess.run(command, capture_output=True, text=True, timeout=600, env=ansible_environment())


def wait_for(what: str, check: Callable[[], bool], timeout: float, explain: Callable[[], str] = str) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what} {explain()}")
        time.sleep(1)


class Secured:
    """The deployed lab and what its checks need."""

    def __init__(self, lab: Lab, inventory: Path) -> None:
        self.lab, self.inventory = lab, inventory

    def plan(self):
        return compile_inventory(str(self.inventory))

    def store(self):
        return load_store(store_path(str(self.inventory)))

    def sh(self, host: str, command: str, input: str | None = None) -> subprocess.CompletedProcess:
        """A shell command inside a host, without SSH (nsenter): checks never add to what they check."""
        return self.lab.exec(host, ["sh", "-c", command], check=False, input=input, timeout=300)

    def up_points(self, since: float, until: float | None = None) -> dict[tuple, list[tuple[float, float]]]:
        found: dict[tuple, list[tuple[float, float]]] = {}
        for item in export(self.lab.db_url, '{__name__="syntraf_up"}', start=since):
            key = (item.labels["group"], item.labels["src"], item.labels["dst"])
            found.setdefault(key, []).extend(
                point for point in item.points if point[0] >= since and (until is None or point[0] <= until)
            )
        return {key: sorted(points) for key, points in found.items()}

    def wait_measuring(self, since: float, timeout: float = 60) -> None:
        edges = {edge.key for edge in self.plan().edges}

        def missing() -> list[tuple]:
            points = self.up_points(since)
            return sorted(edge for edge in edges if not any(value == 1 for _, value in points.get(edge, [])))

        wait_for("up=1 points for every edge", lambda: not missing(), timeout, lambda: f"missing {missing()}")


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    problem = unmet_requirements()
    if problem:
        pytest.skip(f"lab tests: {problem}")
    reap_abandoned_test_labs()
    name = owned_lab_name("s")
    inventory = tmp_path_factory.mktemp("security") / "inventory"
    try:
        report = up_on_free_subnet(name, len(SUITES), inventory, say=lambda m: None, suites=SUITES)
        lab = Lab(report.state, report.failed_units)
        main = yaml.safe_load((inventory / "group_vars/all/main.yml").read_text())
        groups = {
            group: {**spec, "interval": INTERVAL} for group, spec in main["syntraf_mesh_groups"].items()
        }
        settings = {"syntraf_test_duration": TEST_DURATION, "syntraf_mesh_groups": groups}
        (inventory / "group_vars/all/security-test.yml").write_text(yaml.safe_dump(settings))
        (inventory / "host_vars").mkdir()
        (inventory / "host_vars/lab2.yml").write_text("syntraf_behind_nat: true\n")
        # no preflight first: the first apply records the iperf3 versions the mixed mesh needs by itself
        done = ctl("apply", "-i", str(inventory))
        assert done.returncode == 0, done.stdout[-3000:] + done.stderr
        yield Secured(lab, inventory)
    finally:
        lab_down(name, quiet=True)


def test_mixed_versions_authenticate_in_every_direction(secured: Secured) -> None:
    plan = secured.plan()
    assert not [w for w in plan.warnings if "left out" in w or "version unknown" in w], plan.warnings
    mixed = {edge.key for edge in plan.edges if "lab3" in (edge.listener, edge.initiator)}
    assert {edge.key for edge in plan.edges if edge.pkcs1_padding} == mixed and len(mixed) == 8
    secured.wait_measuring(time.time() - 5)
    processes = secured.sh("lab3", "ps -u syntraf -o args= | grep '^/usr/bin/iperf3'").stdout.splitlines()
    listeners = [p for p in processes if " -s " in p]
    expected = [edge for edge in plan.edges if edge.listener == "lab3"]
    assert len(listeners) == len(expected) and all("--use-pkcs1-padding" in p for p in listeners)  # for 3.12
    assert all("--rsa-private-key-path /etc/syntraf/auth/listener.pem" in p for p in listeners)
    assert all("--username lab3" in p and "--use-pkcs1-padding" in p for p in processes if " -c " in p)


def test_clients_without_or_with_wrong_credentials_are_refused_by_every_listener(secured: Secured) -> None:
    """Each initiator's probe is stopped in turn, so the listeners it uses are idle; from its host, clients
    with no credentials, a wrong password, or another host's name, try every one of them. The right
    credentials, from the same place, succeed: the refusals are authentication, not an unreachable port."""
    plan = secured.plan()
    for initiator in secured.lab.host_names:
        edges = [edge for edge in plan.edges if edge.initiator == initiator]
        secured.sh(initiator, "systemctl stop syntraf.target")  # its probe instances are PartOf it
        try:
            time.sleep(2)  # the listeners notice the dead control connections and wait for a client again
            for edge in edges:
                peers = f"/etc/syntraf/auth/peers/{edge.listener}"
                padding = " --use-pkcs1-padding" if edge.pkcs1_padding and initiator == "lab3" else ""
                base = (
                    f"iperf3 -c {edge.connect_address} -p {edge.port} -u -b 10k -t 1 --connect-timeout 3000"
                )
                auth = f"--rsa-public-key-path {peers}.pem{padding}"
                password = (
                    f"IPERF3_PASSWORD=$(cat {peers}.password)"  # expanded by the shell: not in any argv
                )
                attempts = {
                    "no credentials": f"{base} </dev/null",
                    "wrong password": f"IPERF3_PASSWORD=nope {base} --username {initiator} {auth}",
                    "another host's name": f"{password} {base} --username {edge.listener} {auth}",
                }
                for what, command in attempts.items():
                    done = attempt(secured, initiator, command)
                    assert done.returncode != 0, f"{what} -> {edge.listener}:{edge.port} ran a test"
                    assert "authorization failed" in done.stdout + done.stderr, (
                        what,
                        done.stdout,
                        done.stderr,
                    )
                right = f"{password} {base} --username {initiator} {auth}"
                done = attempt(secured, initiator, right)
                assert done.returncode == 0, (edge.key, done.stdout, done.stderr)
        finally:
            secured.sh(initiator, "systemctl start syntraf.target")
    secured.wait_measuring(time.time())


def attempt(secured: Secured, host: str, command: str) -> subprocess.CompletedProcess:
    """Run an iperf3 client on `host`, again while the listener is not back yet (restarting after its
    client vanished: refused, or busy with the dead test)."""
    deadline = time.monotonic() + 20
    while True:
        done = secured.sh(host, command)
        output = done.stdout + done.stderr
        if ("Connection refused" not in output and "busy" not in output) or time.monotonic() > deadline:
            return done
        time.sleep(0.5)


# Runs inside each host (python3): which processes hold a secret in their command line or environment.
PROCESS_SCAN = r"""
import json, os, sys
secrets = [line for line in sys.stdin.read().split("\n") if line]
found = []
for pid in filter(str.isdigit, os.listdir("/proc")):
    for part in ("cmdline", "environ"):
        path = f"/proc/{pid}/{part}"
        try:
            data = open(path, "rb").read().decode(errors="replace")
            argv = open(f"/proc/{pid}/cmdline", "rb").read().decode(errors="replace").split("\0")
            stat = os.stat(path)
        except OSError:
            continue
        for index, secret in enumerate(secrets):
            if secret in data:
                found.append({"pid": pid, "part": part, "secret": index, "argv": argv, "uid": stat.st_uid,
                              "mode": oct(stat.st_mode & 0o777)})
print(json.dumps(found))
"""


def test_no_secret_outside_the_files_meant_to_hold_it(secured: Secured, tmp_path: Path) -> None:
    store, plan = secured.store(), secured.plan()
    pairs = {(edge.listener, edge.initiator) for edge in plan.edges}
    token = yaml.safe_load((secured.inventory / "group_vars/all/vault.yml").read_text())[
        "vault_influxdb_token"
    ]
    hosts = secured.lab.host_names
    files = {uid: host_files(store, pairs, uid) for uid in hosts}
    material = store.generations[store.active].hosts
    # every secret, and the hosts (and files there) where it may be: a private key line only on its owner
    # if it listens (lab2, behind NAT, does not), a pair password only on its initiator, a seed nowhere,
    # the database token in its token file
    secrets: dict[str, dict[str, str]] = {}
    listeners = {listener for listener, _ in pairs}
    assert listeners == set(hosts) - {"lab2"}
    for uid, item in material.items():
        owner = {uid: "/etc/syntraf/auth/listener.pem"} if uid in listeners else {}
        secrets[item.private_key.splitlines()[5]] = owner
        secrets[item.seed] = {}
        for listener, initiator in pairs:
            if initiator == uid:
                where = f"/etc/syntraf/auth/peers/{listener}.password"
                secrets[pair_password(item.seed, listener)] = {uid: where}
    secrets[token] = {uid: "/etc/syntraf/secrets/influxdb-0.token" for uid in hosts}
    patterns = list(secrets)
    stdin = "\n".join(patterns) + "\n"
    for host in hosts:
        listed = secured.sh(
            host,
            "grep -rlFa -f /dev/stdin / --exclude-dir=proc --exclude-dir=sys --exclude-dir=dev",
            input=stdin,
        ).stdout.split()
        found = {}
        for path in listed:
            text = secured.sh(host, f"cat {path}").stdout
            found.update({secret: path for secret in patterns if secret in text})
        expected = {secret: places[host] for secret, places in secrets.items() if host in places}
        assert found == expected, f"{host}: secrets where they should not be, or missing"
        assert (
            secured.sh(
                host, "journalctl -o cat --no-pager | grep -cFf /dev/stdin", input=stdin
            ).stdout.strip()
            == "0"
        )
        for line in secured.sh(
            host,
            "stat -c '%U:%G %a %F %n' /etc/syntraf/auth /etc/syntraf/auth/peers "
            "/etc/syntraf/auth/* /etc/syntraf/auth/peers/* /etc/syntraf/secrets/*",
        ).stdout.splitlines():
            owner, mode, *kind, path = line.split(" ")
            assert owner == "root:syntraf" and mode == ("750" if kind[0] == "directory" else "640"), line
        assert set(files[host]) == {
            path.removeprefix("/etc/syntraf/auth/")
            for path in secured.sh(host, "find /etc/syntraf/auth -type f").stdout.split()
        }
        holders = json.loads(secured.sh(host, f"python3 -c '{PROCESS_SCAN}'", input=stdin).stdout)
        for entry in holders:
            secret = patterns[entry["secret"]]
            # only an iperf3 client holds a password, in its own environment (IPERF3_PASSWORD), readable only
            # by its user; and only the password for the listener it connects to
            assert entry["part"] == "environ" and entry["mode"] == "0o400", entry
            assert entry["argv"][:2] == ["/usr/bin/iperf3", "-c"], entry
            listener = re.search(r"/peers/([^/]+)\.pem", " ".join(entry["argv"])).group(1)
            assert secrets[secret] == {host: f"/etc/syntraf/auth/peers/{listener}.password"}, entry
        assert holders, f"{host}: no iperf3 client holds its password: is it measuring?"
    rendered = tmp_path / "rendered"
    done = ctl("render", "-i", str(secured.inventory), "-o", str(rendered))
    assert done.returncode == 0, done.stderr
    for path in rendered.rglob("*"):
        if path.is_file():
            content = path.read_bytes()  # the probe's zipapp is in the render too
            assert not [secret for secret in patterns if secret.encode() in content], path


@pytest.mark.parametrize("host", ["lab1", "lab3"])  # Debian 12 (systemd 252) and Debian 13 (systemd 257)
def test_unit_exposure_score_is_at_most_2(secured: Secured, host: str) -> None:
    done = secured.sh(host, "systemd-analyze security --no-pager syntraf-probe@voip.service")
    score = re.search(r"Overall exposure level for syntraf-probe@voip\.service: (\d+\.\d+)", done.stdout)
    assert score, done.stdout + done.stderr
    print(f"{host}: systemd-analyze security exposure {score.group(1)}")
    assert float(score.group(1)) <= EXPOSURE_MAX, done.stdout


def test_a_host_whose_clock_is_off_fails_preflight_with_its_name_and_offset(secured: Secured) -> None:
    """The lab's hosts share this machine's kernel clock (nspawn has no clock of its own, and a time
    namespace cannot move CLOCK_REALTIME), so lab2's clock is shifted where preflight reads it: a `date`
    earlier in root's PATH that answers an hour late. This fakes only the fault; preflight, Ansible and
    SSH are real."""
    shim = f'#!/bin/sh\nexec /usr/bin/date -d "@$(( $(/usr/bin/date +%s) + {SKEW} ))" "$@"\n'
    secured.sh("lab2", "cat > /usr/local/bin/date && chmod 755 /usr/local/bin/date", input=shim)
    try:
        done = playbook(secured.inventory, "preflight")
    finally:
        secured.sh("lab2", "rm -f /usr/local/bin/date")
    assert done.returncode != 0
    failed = re.search(r"lab2: its clock is \+(\d+\.\d) s off the controller's", done.stdout)
    assert failed, done.stdout[-3000:]
    assert abs(float(failed.group(1)) - SKEW) < 5
    assert "syntraf_iperf3_time_skew_threshold (10 s)" in done.stdout
    assert "lab1: its clock" not in done.stdout and "lab3: its clock" not in done.stdout


def test_rotate_keys_during_measurement_loses_no_interval(secured: Secured) -> None:
    """In both modes: a forward-mode initiator (lab2, behind NAT) must switch to its listener's new key as
    quickly as a reverse-mode one (issue 14: it once sat in config_error for minutes)."""
    plan = secured.plan()
    assert {edge.mode for edge in plan.edges if edge.initiator == "lab2"} == {"forward", "reverse"}
    before = secured.store()
    pids = {
        host: secured.sh(host, "pgrep -u syntraf -f '^/usr/bin/iperf3 -s' | sort").stdout
        for host in ("lab1", "lab3")
    }
    secured.wait_measuring(time.time())
    started = time.time()
    done = ctl("rotate-keys", "-i", str(secured.inventory))
    ended = time.time()
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    after = secured.store()
    assert (before.active, after.active, after.rotation, sorted(after.generations)) == (1, 2, None, [2])
    time.sleep(2 * INTERVAL + 1)
    points = secured.up_points(started, ended)
    for edge in secured.plan().edges:
        series = points.get(edge.key, [])
        times = [t for t, _ in series]
        # a test boundary may shift the interval grid (a gap below two intervals); a lost interval cannot
        gaps = [round(b - a, 1) for a, b in zip(times, times[1:]) if b - a >= 2 * INTERVAL]
        assert series and times[0] - started < 2 * INTERVAL and ended - times[-1] < 2 * INTERVAL, edge.key
        assert not gaps, f"{edge.key}: gaps {gaps}"
        assert all(value == 1 for _, value in series), (
            f"{edge.key}: up=0 at {[t for t, v in series if v != 1]}"
        )
    for host, listed in pids.items():  # every listener restarted with its new key
        now = secured.sh(host, "pgrep -u syntraf -f '^/usr/bin/iperf3 -s' | sort").stdout
        assert not set(listed.split()) & set(now.split()), host
    new_key = after.material(2, "lab3").private_key
    assert secured.sh("lab3", "cat /etc/syntraf/auth/listener.pem").stdout == new_key
    listeners = sorted({edge.listener for edge in plan.edges if edge.initiator == "lab1"})
    assert listeners == ["lab3"]  # lab2 (behind NAT) listens for nobody
    assert secured.sh("lab1", "ls /etc/syntraf/auth/peers").stdout.split() == ["lab3.password", "lab3.pem"]
    for host in secured.lab.host_names:
        journal = secured.sh(host, f"journalctl -u 'syntraf-probe@*' --since @{int(started)} -o cat").stdout
        assert "config_error" not in journal and "configuration error" not in journal, host
