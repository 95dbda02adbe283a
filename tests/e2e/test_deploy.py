"""syntraf-ctl apply / status / destroy for real: Ansible over SSH into the lab's systemd hosts, real probes
running iperf3, points in the lab's database. The tests are one scenario, in this order, on one deployment:
refuse a bad inventory, deploy, re-apply, remove a host, add it back, partition, kill and reboot, status,
destroy."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
import yaml

from syntraf_ctl.compile import compile_inventory
from syntraf_ctl.lab.tsdb import export
from tests.collection import build_and_install
from tests.support.lab_control import Lab

pytestmark = pytest.mark.lab

EdgeKey = tuple[str, str, str]  # (group, src, dst)
MEASURED_WITHIN = 30.0  # seconds after apply returns, every planned edge has an up=1 point
MAX_GAP = 3.5  # seconds between consecutive points of a 1 s interval edge that kept measuring


INSTALLED: list[Path] = []  # the installed environment's bin/ (the `deployment` fixture sets it)


def ctl(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess:
    """The installed `syntraf-ctl` (the wheel, in a fresh environment), run from outside the checkout, as a
    user runs it."""
    env = dict(os.environ if env is None else env)  # ansible-playbook comes with the dependencies
    env["PATH"] = os.pathsep.join([str(INSTALLED[0]), str(Path(sys.executable).parent), env.get("PATH", "")])
    return subprocess.run(
        [str(INSTALLED[0] / "syntraf-ctl"), *args],
        capture_output=True,
        text=True,
        timeout=600,
        env=env,
        cwd=INSTALLED[0].parent,
    )


def wait_for(
    what: str, check: Callable[[], bool], timeout: float, explain: Callable[[], str] = lambda: ""
) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout:.0f} s: {what} {explain()}")
        time.sleep(1)


class Deployment:
    """The lab's inventory, copied so these tests can change its mesh groups without touching the lab's."""

    def __init__(self, lab: Lab, inventory: Path) -> None:
        self.lab = lab
        self.inventory = inventory
        self.change_started = 0.0  # when the host removal began: lab1<->lab2 must measure on since then

    def set_members(self, hosts: list[str]) -> None:
        """Make `hosts` the members of every mesh group; the other hosts stay in the inventory, idle."""
        path = self.inventory / "hosts.yml"
        data = yaml.safe_load(path.read_text())
        for group in data["all"]["children"].values():
            group["hosts"] = dict.fromkeys(hosts)
        path.write_text(yaml.safe_dump(data, sort_keys=False))

    def planned(self) -> set[EdgeKey]:
        return {edge.key for edge in compile_inventory(str(self.inventory)).edges}

    def apply(self, *flags: str) -> subprocess.CompletedProcess:
        done = ctl("apply", "-i", str(self.inventory), *flags)
        assert done.returncode == 0, done.stdout + done.stderr
        return done

    def up_points(self, since: float) -> dict[EdgeKey, list[tuple[float, float]]]:
        series = export(self.lab.db_url, '{__name__="syntraf_up"}', start=since)
        found: dict[EdgeKey, list[tuple[float, float]]] = {}
        for item in series:
            key = (item.labels["group"], item.labels["src"], item.labels["dst"])
            found.setdefault(key, []).extend(point for point in item.points if point[0] >= since)
        return {key: sorted(points) for key, points in found.items()}

    def samples(self, since: float) -> dict[EdgeKey, dict[float, dict[str, float]]]:
        """edge -> time -> {field: value}: the points written since `since`."""
        found: dict[EdgeKey, dict[float, dict[str, float]]] = {}
        for item in export(
            self.lab.db_url, '{__name__=~"syntraf_(up|bitrate_bps|loss_pct|jitter_ms)"}', since
        ):
            key = (item.labels["group"], item.labels["src"], item.labels["dst"])
            for time_, value in item.points:
                found.setdefault(key, {}).setdefault(time_, {})[item.name.removeprefix("syntraf_")] = value
        return found

    def wait_measuring(self, edges: set[EdgeKey], since: float, timeout: float = MEASURED_WITHIN) -> None:
        def missing() -> list[EdgeKey]:
            points = self.up_points(since)
            return sorted(edge for edge in edges if not any(value == 1 for _, value in points.get(edge, [])))

        wait_for("up=1 points for every edge", lambda: not missing(), timeout, lambda: f"missing {missing()}")

    def host_text(self, host: str, command: str) -> str:
        """Run a shell command inside a host without SSH (nsenter), so checks never touch what they check."""
        return self.lab.exec(host, ["sh", "-c", command], check=False).stdout


@pytest.fixture(scope="module")
def deployment(lab: Lab, installed: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Deployment]:
    INSTALLED[:] = [installed]
    inventory = tmp_path_factory.mktemp("deploy") / "inventory"
    shutil.copytree(lab.inventory, inventory)
    try:
        yield Deployment(lab, inventory)
    finally:
        # Leave the hosts as the lab gave them, whatever failed: the lab is shared with later tests.
        ctl("destroy", "-i", str(inventory))


def sshd_logins(deployment: Deployment, host: str) -> int:
    return int(
        deployment.host_text(host, "journalctl -u ssh.service -o cat | grep -c 'Accepted publickey'") or 0
    )


def test_invalid_inventory_is_refused_and_no_host_is_touched(deployment: Deployment, tmp_path: Path) -> None:
    broken = tmp_path / "broken"
    shutil.copytree(deployment.inventory, broken)
    main = broken / "group_vars/all/main.yml"
    settings = yaml.safe_load(main.read_text())
    settings["syntraf_mesh_groups"]["voip"]["profile"] = "no-such-profile"
    main.write_text(yaml.safe_dump(settings))
    before = {host: sshd_logins(deployment, host) for host in deployment.lab.host_names}

    done = ctl("apply", "-i", str(broken))

    assert done.returncode == 2, done.stdout + done.stderr
    assert "inventory is invalid" in done.stderr and "no-such-profile" in done.stderr
    assert "== " not in done.stdout  # Ansible never ran
    for host in deployment.lab.host_names:
        assert sshd_logins(deployment, host) == before[host], f"{host} was logged into"
        assert deployment.host_text(host, "ls -d /etc/syntraf /opt/syntraf 2>/dev/null") == ""


def test_apply_measures_every_planned_edge_within_30_s(deployment: Deployment) -> None:
    started = time.time()
    done = deployment.apply()
    assert "FAILED" not in done.stdout
    planned = deployment.planned()
    assert len(planned) == 12  # 2 groups x 3 hosts x 2 directions
    deployment.wait_measuring(planned, started)

    time.sleep(3)  # a few full intervals more: the first ones may be the peer's listener starting
    expected_bps = {"voip": 172 * 8 * 50, "bulk": 200_000}  # the lab inventory's groups
    samples = deployment.samples(started)
    assert set(samples) == planned
    for edge, by_time in samples.items():
        measured = [fields for _, fields in sorted(by_time.items()) if fields.get("up") == 1][-3:]
        assert measured, edge
        for fields in measured:
            assert 0.8 * expected_bps[edge[0]] <= fields["bitrate_bps"] <= 1.2 * expected_bps[edge[0]], (
                edge,
                fields,
            )
            assert fields["loss_pct"] <= 2.0 and 0.0 <= fields["jitter_ms"] < 20.0, (edge, fields)


def test_second_apply_changes_nothing(deployment: Deployment) -> None:
    done = deployment.apply()
    assert "changed 0 things" in done.stdout, done.stdout
    for host in deployment.lab.host_names:
        assert f"{host}" in done.stdout and "changed=0" in done.stdout


def test_apply_puts_back_what_drifted_a_stopped_group_and_a_changed_zipapp(deployment: Deployment) -> None:
    """A no-op apply looks at units and the zipapp without touching them (one module each per host): what
    drifted on a host must still be put back, and only that."""
    probe = "/opt/syntraf/syntraf-probe.pyz"
    intact = deployment.host_text("lab3", f"sha256sum {probe}")
    deployment.host_text("lab1", "systemctl disable --now syntraf-probe@voip.service")
    deployment.host_text("lab2", f"echo drift >> {probe}")
    done = deployment.apply()
    assert "changed 0 things" not in done.stdout, done.stdout
    state = "systemctl is-enabled syntraf-probe@voip.service; systemctl is-active syntraf-probe@voip.service"
    assert deployment.host_text("lab1", state).split() == ["enabled", "active"]
    assert deployment.host_text("lab2", f"sha256sum {probe}") == intact
    assert "changed 0 things" in deployment.apply().stdout


def test_deploy_playbook_by_hand_from_a_render_agrees_with_apply(
    deployment: Deployment, tmp_path: Path
) -> None:
    """What a user runs without apply: `syntraf-ctl render`, then the collection's deploy playbook by its
    name (with the wheel's Ansible settings), which finds everything in the render and has nothing to do."""
    python = str(INSTALLED[0] / "python")
    where = [python, "-c", "import syntraf_ctl.assets as a; print(a.ANSIBLE_CONFIG)"]
    config = subprocess.run(where, capture_output=True, text=True, check=True).stdout.strip()
    deploy_render_by_hand(deployment, tmp_path, {**os.environ, "ANSIBLE_CONFIG": config})


def test_the_collection_installed_from_its_tarball_deploys_a_render_by_hand(
    deployment: Deployment, tmp_path: Path
) -> None:
    """What an ad-hoc user runs: the collection built with `ansible-galaxy collection build`, installed
    offline from the tarball, and its deploy playbook run with Ansible's own defaults (no syntraf
    ansible.cfg, no syntraf-ctl on the path): only that install provides syntraf.mesh."""
    work = tmp_path / "collection"
    work.mkdir()
    env = {key: value for key, value in os.environ.items() if not key.startswith("ANSIBLE_")}
    env["ANSIBLE_COLLECTIONS_PATH"] = str(work / "collections")  # not installed yet: nothing provides it
    absent = [
        str(Path(sys.executable).with_name("ansible-playbook")),
        "--syntax-check",
        "syntraf.mesh.deploy",
    ]
    assert subprocess.run(absent, env=env, cwd=work, capture_output=True, timeout=120).returncode != 0
    assert build_and_install(work) == work / "collections"
    deploy_render_by_hand(deployment, work, env)


def deploy_render_by_hand(deployment: Deployment, work: Path, env: dict[str, str]) -> None:
    """Render the deployment's inventory with the installed syntraf-ctl, run `ansible-playbook
    syntraf.mesh.deploy` on it from `work` (no ansible.cfg there) and check that no host changed: apply
    already deployed the same."""
    rendered = work / "rendered"
    assert ctl("render", "-i", str(deployment.inventory), "-o", str(rendered)).returncode == 0
    done = subprocess.run(
        [
            str(Path(sys.executable).with_name("ansible-playbook")),
            "-i",
            str(deployment.inventory),
            "syntraf.mesh.deploy",
            "-e",
            f"syntraf_render_dir={rendered}",
        ],
        env=env,
        cwd=work,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr
    recap = done.stdout[done.stdout.index("PLAY RECAP") :]
    changed, task = [], ""
    for line in done.stdout.splitlines():
        task = line if line.startswith(("TASK", "RUNNING HANDLER")) else task
        if line.startswith("changed:"):
            changed.append(f"{task} {line}")
    for host in deployment.lab.host_names:
        assert re.search(rf"^{host}\s+: ok=\d+\s+changed=0\s+unreachable=0\s+failed=0", recap, re.M), changed


def test_check_mode_reports_a_config_change_and_changes_nothing(deployment: Deployment) -> None:
    main = deployment.inventory / "group_vars/all/main.yml"
    original = main.read_text()
    checksum = "sha256sum /etc/syntraf/bulk.json"
    before = deployment.host_text("lab1", checksum)
    try:
        main.write_text(original.replace("bandwidth: 200k", "bandwidth: 100k"))
        done = deployment.apply("--check", "--diff")
    finally:
        main.write_text(original)
    assert "would change" in done.stdout and "would change 0 things" not in done.stdout, done.stdout
    diff = done.stdout.splitlines()
    assert [line for line in diff if line.startswith("-") and '"bandwidth_bps": 200000' in line], done.stdout
    assert [line for line in diff if line.startswith("+") and '"bandwidth_bps": 100000' in line], done.stdout
    assert deployment.host_text("lab1", checksum) == before


def test_removing_a_host_removes_it_everywhere_without_a_gap_elsewhere(deployment: Deployment) -> None:
    pids = "systemctl show -p MainPID --value syntraf-probe@voip syntraf-probe@bulk"
    before = deployment.host_text("lab1", pids)
    deployment.change_started = time.time()
    deployment.set_members(["lab1", "lab2"])
    deployment.apply("--allow-destroy")  # 8 of the 12 locked edges go: more than half (docs/refused.md)
    assert deployment.host_text("lab1", pids) == before  # reloaded (SIGHUP), not restarted

    lab3_address = deployment.lab.addresses["lab3"]
    assert deployment.host_text("lab3", "systemctl list-units 'syntraf*' --all --no-legend --plain") == ""
    assert deployment.host_text("lab3", "ls -d /etc/syntraf /opt/syntraf /var/lib/syntraf /run/syntraf") == ""
    assert deployment.host_text("lab3", "ls /etc/systemd/system | grep syntraf; pgrep -a iperf3") == ""
    for host in ("lab1", "lab2"):
        assert "lab3" not in deployment.host_text(host, "cat /etc/syntraf/*.json")
        # `systemctl reload` only sends SIGHUP: the probe stops the removed edges and rewrites its state file
        # (once per flush) right after, so give it a few seconds
        wait_for(
            f"{host}'s probes forget lab3",
            lambda host=host: (
                "lab3" not in deployment.host_text(host, "cat /run/syntraf/*.state.json")
                and lab3_address not in deployment.host_text(host, "pgrep -a iperf3")
            ),
            10,
        )
    # no probe still measures it: no new point about lab3 once the probes reloaded
    time.sleep(3)
    quiet_since = time.time()
    time.sleep(3)
    assert not [key for key in deployment.up_points(quiet_since) if "lab3" in key[1:]]
    assert_no_gap(deployment, deployment.change_started, {"lab1", "lab2"})


def test_adding_a_host_measures_its_edges_without_a_gap_elsewhere(deployment: Deployment) -> None:
    added = time.time()
    deployment.set_members(deployment.lab.host_names)
    deployment.apply()
    deployment.wait_measuring(deployment.planned(), added)
    assert_no_gap(deployment, deployment.change_started, {"lab1", "lab2"})


def assert_no_gap(deployment: Deployment, since: float, hosts: set[str]) -> None:
    """Edges between `hosts` kept measuring since `since`: points at most MAX_GAP apart, all up."""
    points = deployment.up_points(since)
    edges = [key for key in deployment.planned() if {key[1], key[2]} <= hosts]
    assert edges
    for edge in edges:
        times = [t for t, _ in points[edge]]
        gaps = [later - earlier for earlier, later in zip(times, times[1:])]
        assert times[0] - since < MAX_GAP and max(gaps) < MAX_GAP, (edge, max(gaps))
        assert time.time() - times[-1] < MAX_GAP + 2, edge
        assert all(value == 1 for _, value in points[edge]), edge


def test_partition_gives_outage_points_both_ways_then_recovery(deployment: Deployment) -> None:
    lab = deployment.lab
    cut = time.time()
    lab.partition("lab1", "lab2")
    try:

        def outage_both_ways() -> bool:
            points = deployment.up_points(cut)
            return all(
                any(value == 0 for _, value in points.get(("voip", src, dst), []))
                for src, dst in PAIR_BOTH_WAYS
            )

        wait_for("up=0 points lab1->lab2 and lab2->lab1", outage_both_ways, 30)
    finally:
        lab.heal("lab1", "lab2")
    healed = time.time()
    deployment.wait_measuring({("voip", src, dst) for src, dst in PAIR_BOTH_WAYS}, healed, timeout=40)


PAIR_BOTH_WAYS = (("lab1", "lab2"), ("lab2", "lab1"))


def test_status_shows_every_edge_and_every_unit(deployment: Deployment) -> None:
    done = ctl("status", "-i", str(deployment.inventory), "--format", "json")
    assert done.returncode == 0, done.stdout + done.stderr
    report = json.loads(done.stdout)
    edges = {
        (edge["group"], edge["src"], edge["dst"]): edge
        for group in report["groups"].values()
        for edge in group
    }
    assert set(edges) == deployment.planned()
    for key, edge in edges.items():
        assert edge["state"] == "measuring" and edge["up"] == 1, key
        assert edge["loss_pct"] is not None and edge["jitter_ms"] is not None and edge["age_s"] < 10, key
    for host in report["hosts"]:
        assert host["reachable"] and host["last_sample_age_s"] < 10, host
        assert host["units"] == {
            "syntraf-probe@bulk.service": "active/running",
            "syntraf-probe@voip.service": "active/running",
            "syntraf.target": "active/active",
        }

    text = ctl("status", "-i", str(deployment.inventory)).stdout
    assert "group voip" in text and "sender \\ receiver" in text and "%" in text and "ms" in text


def test_status_connects_with_paramiko_where_there_is_no_ssh_client(
    deployment: Deployment, tmp_path: Path
) -> None:
    # A PATH without ssh: the runner must fall back to Paramiko (the lab's host keys are new at every boot).
    env = {
        "PATH": str(INSTALLED[0]),
        "ANSIBLE_HOST_KEY_CHECKING": "False",
        "HOME": str(tmp_path),
    }
    done = ctl("status", "-i", str(deployment.inventory), "--format", "json", env=env)
    assert done.returncode == 0, done.stdout + done.stderr
    assert all(host["reachable"] for host in json.loads(done.stdout)["hosts"])


def test_measuring_resumes_after_a_killed_iperf3_and_a_reboot(deployment: Deployment) -> None:
    lab = deployment.lab
    pids = deployment.host_text("lab1", "pgrep -x iperf3").split()
    assert pids
    lab.exec("lab1", ["kill", "-KILL", pids[0]])
    assert lab.reboot("lab3") == []
    rebooted = time.time()
    deployment.wait_measuring(deployment.planned(), rebooted, timeout=45)
    assert pids[0] not in deployment.host_text("lab1", "pgrep -x iperf3").split()


def test_destroy_leaves_no_syntraf_unit_file_or_process(deployment: Deployment) -> None:
    done = ctl("destroy", "-i", str(deployment.inventory))
    assert done.returncode == 0, done.stdout + done.stderr
    for host in deployment.lab.host_names:
        leftovers = deployment.host_text(
            host,
            "systemctl list-units 'syntraf*' --all --no-legend --plain;"
            "systemctl list-unit-files 'syntraf*' --no-legend;"
            "ls -d /etc/syntraf /opt/syntraf /var/lib/syntraf /run/syntraf /etc/systemd/system/syntraf* "
            "/etc/sysusers.d/syntraf.conf "
            "/etc/systemd/system/*/syntraf* 2>/dev/null; getent passwd syntraf; getent group syntraf;"
            "pgrep -a iperf3; pgrep -af '[s]yntraf-probe'",
        )
        assert leftovers == "", f"{host}: {leftovers}"
