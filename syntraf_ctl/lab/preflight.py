"""What the lab needs from the machine: Linux, root, and a few tools (named with the package to install)."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sys

from syntraf_ctl.lab.errors import LabError

# tool -> Debian package that provides it
REQUIRED_TOOLS: dict[str, str] = {
    "debootstrap": "debootstrap",
    "systemd-nspawn": "systemd-container",
    "nft": "nftables",
    "ip": "iproute2",
    "victoria-metrics": "victoria-metrics",
    "ssh": "openssh-client",
    "ssh-keygen": "openssh-client",
    "nsenter": "util-linux",
    "mount": "mount",
}


# What a WAN lab (--sites) needs besides: the core's NFQUEUE rule and the delay line's binding.
WAN_TOOLS = {"iptables": "iptables"}


def missing_tools(tools: dict[str, str] = REQUIRED_TOOLS) -> dict[str, str]:
    """The tools not found on PATH, with their packages."""
    return {tool: package for tool, package in tools.items() if shutil.which(tool) is None}


def unmet_requirements() -> str | None:
    """Why the lab cannot run here (one message), or None when it can."""
    if not sys.platform.startswith("linux"):
        return f"the lab needs Linux (network namespaces, systemd-nspawn); this is {sys.platform}"
    if os.geteuid() != 0:
        return "the lab needs root (it creates network namespaces, a bridge, mounts and containers)"
    missing = missing_tools()
    if missing:
        packages = " ".join(sorted(set(missing.values())))
        return f"the lab needs {', '.join(sorted(missing))}: apt-get install {packages}"
    return None


def check_requirements() -> None:
    problem = unmet_requirements()
    if problem:
        raise LabError(problem)


def unmet_wan_requirements() -> str | None:
    """Why a WAN lab cannot run here, or None when it can."""
    problem = unmet_requirements()
    if problem:
        return problem
    missing = missing_tools(WAN_TOOLS)
    if missing:
        return f"a WAN lab needs iptables: apt-get install {' '.join(sorted(set(missing.values())))}"
    if importlib.util.find_spec("netfilterqueue") is None:
        return (
            "a WAN lab needs the Python package netfilterqueue in syntraf-ctl's environment "
            "(scripts/setup.sh installs it; it builds with libnetfilter-queue-dev, gcc and python3-dev)"
        )
    return None
