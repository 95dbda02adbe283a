"""Benchmark: compile + render single-group full meshes of 32, 64, 128 and 256 hosts.

    .venv/bin/python bench/plan_render.py [[SHAPE:]SIZE...]

SHAPE is `full` (the default), `rotating` (k = 8, 300 s epochs) or `sites` (20 sites, inventory groups
site00..site19, one representative pair between every two): `sites:1000 rotating:256`.

Each size runs in its own Python process (so peak memory is that run's own) on a real inventory written to a
temporary directory (hosts.yml + group_vars/all.yml + one host_vars file per host) and loaded by Ansible.
It prints the machine's cores and load average first (the figures mean little without them), then per size:
edges, wall time of compile (inventory load, validation, mesh, ports), of render (templates and writing
files), their sum, time per edge, the whole child process's wall time (Python start, imports, writing the
inventory, cleanup included) and its peak RSS.
Targets on a 2-core machine: 256 hosts (65,280 edges) in under 10 s, time growing no faster than the edges;
1,000 hosts in a 20-site group (`sites:1000`) and in one rotating group with k = 8 (`rotating:1000`) in
under 10 s each (issue 11).
"""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import tempfile
import time

SIZES = (32, 64, 128, 256)
SITES = 20
TOPOLOGY = {
    "full": "full",
    "rotating": "{kind: rotating, peers: 8, epoch: 300}",
    "sites": "{kind: sites, sites: [" + ", ".join(f"site{s:02d}" for s in range(SITES)) + "]}",
}


def write_inventory(directory: str, size: int, shape: str = "full") -> None:
    """A realistic inventory: addresses per host, shared settings in group_vars, a host_vars file per host;
    for `sites`, the hosts spread over SITES inventory groups."""
    os.makedirs(os.path.join(directory, "group_vars"))
    os.makedirs(os.path.join(directory, "host_vars"))
    line = "probe-{n:03d}: {{ansible_host: 198.51.{a}.{b}}}"
    if shape == "sites":  # mesh's children are the sites, which hold the hosts
        children = "    mesh:\n      children:\n"
        for site in range(SITES):
            children += f"        site{site:02d}:\n          hosts:\n"
            children += "".join(
                f"            {line.format(n=n, a=n // 250, b=n % 250 + 1)}\n"
                for n in range(site, size, SITES)
            )
    else:
        children = "    mesh:\n      hosts:\n" + "".join(
            f"        {line.format(n=n, a=n // 250, b=n % 250 + 1)}\n" for n in range(size)
        )
    with open(os.path.join(directory, "hosts.yml"), "w") as stream:
        stream.write(f"all:\n  children:\n{children}")
    with open(os.path.join(directory, "group_vars", "all.yml"), "w") as stream:
        stream.write(
            "syntraf_iperf3_profiles:\n"
            "  g711: {dscp: ef, interval: 1, packet_size: 172, packets_per_second: 50}\n"
            "syntraf_mesh_groups:\n"
            f"  mesh: {{profile: g711, topology: {TOPOLOGY[shape]}}}\n"
            "syntraf_influxdb:\n"
            '  - {url: "https://influx.example.net:8086", org: noc, bucket: syntraf,\n'
            '     token: "{{ vault_token }}"}\n'
            "vault_token: bench-token\n"
        )
    for n in range(size):
        with open(os.path.join(directory, "host_vars", f"probe-{n:03d}.yml"), "w") as stream:
            stream.write(f"syntraf_log_level: info\nsyntraf_test_duration: {300 + n % 3}\n")


def measure(size: int, shape: str) -> dict[str, float]:
    """Run in a child process: build the inventory, then time compile and render."""
    from syntraf_ctl.compile import compile_inventory
    from syntraf_ctl.render import render_plan, write_tree

    with tempfile.TemporaryDirectory(prefix=f"syntraf-bench-{os.getpid()}-") as directory:
        inventory = os.path.join(directory, "inventory")
        write_inventory(inventory, size, shape)
        start = time.perf_counter()
        plan = compile_inventory(inventory)
        compiled = time.perf_counter()
        write_tree(render_plan(plan), os.path.join(directory, "out"))
        rendered = time.perf_counter()
    return {
        "size": size,
        "edges": len(plan.edges),
        "compile_s": compiled - start,
        "render_s": rendered - compiled,
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }


def main(argv: list[str]) -> int:
    if argv[:1] == ["--child"]:
        print(json.dumps(measure(int(argv[1]), argv[2])))
        return 0
    runs = [a.split(":") if ":" in a else ("full", a) for a in argv] or [("full", s) for s in SIZES]
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    print(f"cores {os.cpu_count()}, load average {load}")
    print(
        f"{'shape':>8} {'hosts':>5} {'edges':>7} {'compile s':>10} {'render s':>9} {'total s':>8} "
        f"{'us/edge':>8} {'process s':>10} {'peak MiB':>9}"
    )
    for shape, size in runs:
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--child", size, shape], check=True, capture_output=True, text=True
        )
        process = time.perf_counter() - start
        result = json.loads(child.stdout.strip().splitlines()[-1])
        total = result["compile_s"] + result["render_s"]
        print(
            f"{shape:>8} {size:>5} {result['edges']:>7} {result['compile_s']:>10.2f} "
            f"{result['render_s']:>9.2f} "
            f"{total:>8.2f} {1e6 * total / result['edges']:>8.1f} {process:>10.2f} "
            f"{result['peak_rss_mib']:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
