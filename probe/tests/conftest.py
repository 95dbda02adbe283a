from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from syntraf_ctl.lab.network import LabNetwork
from syntraf_ctl.lab.tsdb import start_victoria_metrics


def require_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root for network namespaces and nftables")
    if shutil.which("iperf3") is None or shutil.which("victoria-metrics") is None:
        pytest.skip("needs iperf3 and victoria-metrics installed")


@pytest.fixture
def tmp(tmp_path: Path) -> Path:
    return tmp_path


@pytest.fixture(scope="module")
def lab():
    """Two namespaces a and b on a bridge, and VictoriaMetrics on the bridge's host address."""
    require_root()
    prefix = f"sp{os.getpid() % 100000}"
    # a /28 of the lab range per run, so concurrent runs of other suites on other bridges never collide
    base = 16 * (os.getpid() % 16)
    network = LabNetwork(prefix, host_address=f"198.51.100.{base + 1}", prefix_len=28)
    addresses = {"a": f"198.51.100.{base + 2}", "b": f"198.51.100.{base + 3}"}
    workdir = Path(tempfile.mkdtemp(prefix=f"syntraf-probe-lab-{os.getpid()}-"))
    database = None
    try:
        network.create()
        namespaces = {host: network.add_namespace(i, addresses[host]) for i, host in enumerate(addresses, 1)}
        listen = f"{network.host_address}:{20000 + os.getpid() % 20000}"
        database = start_victoria_metrics(workdir / "vm", listen, workdir / "vm.log")
        yield {"ns": namespaces, "addresses": addresses, "url": f"http://{listen}", "workdir": workdir}
    finally:
        if database is not None:
            database.kill()
            database.wait()
        network.remove()
        shutil.rmtree(workdir, ignore_errors=True)
