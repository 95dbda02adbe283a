"""Benchmark: compile + render single-group full meshes of 32, 64, 128 and 256 hosts.

    .venv/bin/python bench/plan_render.py [SIZES...]

Each size runs in its own Python process (so peak memory is that run's own) on a real inventory written to a
temporary directory (hosts.yml + group_vars/all.yml + one host_vars file per host) and loaded by Ansible.
It prints, per size: edges, wall time of compile (inventory load, validation, mesh, ports), of render
(templates and writing files), their sum, time per edge, the whole child process's wall time (Python start,
imports, writing the inventory, cleanup included) and its peak RSS.
Target on a 2-core machine: 256 hosts (65,280 edges) in under 10 s, time growing no faster than the edges.
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


def write_inventory(directory: str, size: int) -> None:
    """A realistic inventory: addresses per host, shared settings in group_vars, a host_vars file per host."""
    os.makedirs(os.path.join(directory, "group_vars"))
    os.makedirs(os.path.join(directory, "host_vars"))
    hosts = "\n".join(
        f"        probe-{n:03d}: {{ansible_host: 198.51.{n // 250}.{n % 250 + 1}}}" for n in range(size)
    )
    with open(os.path.join(directory, "hosts.yml"), "w") as stream:
        stream.write(f"all:\n  children:\n    mesh:\n      hosts:\n{hosts}\n")
    with open(os.path.join(directory, "group_vars", "all.yml"), "w") as stream:
        stream.write(
            "syntraf_iperf3_profiles:\n"
            "  g711: {dscp: ef, interval: 1, packet_size: 172, packets_per_second: 50}\n"
            "syntraf_mesh_groups:\n"
            "  mesh: {profile: g711}\n"
            "syntraf_influxdb:\n"
            '  - {url: "https://influx.example.net:8086", org: noc, bucket: syntraf,\n'
            '     token: "{{ vault_token }}"}\n'
            "vault_token: bench-token\n"
        )
    for n in range(size):
        with open(os.path.join(directory, "host_vars", f"probe-{n:03d}.yml"), "w") as stream:
            stream.write(f"syntraf_log_level: info\nsyntraf_test_duration: {300 + n % 3}\n")


def measure(size: int) -> dict[str, float]:
    """Run in a child process: build the inventory, then time compile and render."""
    from syntraf_ctl.compile import compile_inventory
    from syntraf_ctl.render import render_plan, write_tree

    with tempfile.TemporaryDirectory(prefix=f"syntraf-bench-{os.getpid()}-") as directory:
        inventory = os.path.join(directory, "inventory")
        write_inventory(inventory, size)
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
        print(json.dumps(measure(int(argv[1]))))
        return 0
    sizes = [int(a) for a in argv] or list(SIZES)
    print(
        f"{'hosts':>5} {'edges':>7} {'compile s':>10} {'render s':>9} {'total s':>8} "
        f"{'us/edge':>8} {'process s':>10} {'peak MiB':>9}"
    )
    for size in sizes:
        start = time.perf_counter()
        child = subprocess.run(
            [sys.executable, __file__, "--child", str(size)], check=True, capture_output=True, text=True
        )
        process = time.perf_counter() - start
        result = json.loads(child.stdout.strip().splitlines()[-1])
        total = result["compile_s"] + result["render_s"]
        print(
            f"{size:>5} {result['edges']:>7} {result['compile_s']:>10.2f} {result['render_s']:>9.2f} "
            f"{total:>8.2f} {1e6 * total / result['edges']:>8.1f} {process:>10.2f} "
            f"{result['peak_rss_mib']:>9.0f}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
