"""A mesh group's traffic as the original computed it (reference §6.2-§6.4), written so that syntraf's rules
(group keys override the profile; two of bandwidth, packet_size, packets_per_second) give the same."""

from __future__ import annotations

from syntraf_ctl.importer.config import (
    DEFAULT_DSCP,
    DEFAULT_INTERVAL,
    DEFAULT_PACKET_SIZE,
    MIN_PACKET_SIZE,
    MeshGroup,
    Profile,
)
from syntraf_ctl.importer.notes import CHANGED, TODO, Note
from syntraf_ctl.importer.values import ConfigImportError

DEFAULT_BANDWIDTH_BPS = 100_000  # README "100k"
HEADER_BYTES = 18 + 20 + 8  # Ethernet, IPv4, UDP
RATE_KEYS = ("bandwidth", "packet_size", "packets_per_second")
_SIZE_AND_PPS = {"packet_size", "packets_per_second"}
ORIGINAL_KEYS = {
    "bandwidth": "BANDWIDTH",
    "packet_size": "PACKET_SIZE",
    "packets_per_second": "PACKET_PER_SECOND",
    "dscp": "DSCP",
    "interval": "INTERVAL",
}


def rate_pair(given: dict, where: str, notes: list[Note]) -> dict:
    """The two rate keys the original's dev branch ends up using (first matching branch wins)."""
    present = {key for key in RATE_KEYS if key in given}
    if present >= _SIZE_AND_PPS:
        bps = given["packet_size"] * given["packets_per_second"] * 8
        if "bandwidth" in present:
            notes.append(
                Note(
                    CHANGED,
                    f"{where}: BANDWIDTH",
                    "left out: with PACKET_SIZE and PACKET_PER_SECOND "
                    "also given the original recomputed it (syntraf refuses all three)",
                )
            )
        notes.append(
            Note(
                CHANGED,
                f"{where}: PACKET_PER_SECOND",
                f"bandwidth is packet_size x packets_per_second "
                f"x 8 = {bps} bit/s; the original computed bytes/s and passed it to iperf3 as bit/s, "
                "sending 8 times too little",
            )
        )
        return {key: given[key] for key in sorted(_SIZE_AND_PPS)}
    if present == {"bandwidth", "packets_per_second"}:
        # Written as the original ran it: iperf3 got -b BANDWIDTH -l int(bytes per packet), truncated.
        size = int(given["bandwidth"] / 8 / given["packets_per_second"])
        if size < MIN_PACKET_SIZE:
            raise ConfigImportError(
                f"{where}: BANDWIDTH / 8 / PACKET_PER_SECOND gives {size}-byte packets, "
                f"below iperf3's {MIN_PACKET_SIZE}"
            )
        if size * 8 * given["packets_per_second"] != given["bandwidth"]:
            notes.append(
                Note(
                    CHANGED,
                    f"{where}: PACKET_PER_SECOND",
                    f"written as packet_size {size}, the "
                    "size the original computed (truncated), so iperf3 sends the same packets",
                )
            )
        return {"bandwidth": given["bandwidth"], "packet_size": size}
    if len(present) == 2:
        return {key: given[key] for key in RATE_KEYS if key in present}
    if present == {"packets_per_second"}:
        raise ConfigImportError(
            f"{where}: PACKET_PER_SECOND needs PACKET_SIZE or BANDWIDTH as well (two of the "
            "three; the original refused it alone too)"
        )
    pair = {
        "bandwidth": given.get("bandwidth", DEFAULT_BANDWIDTH_BPS),
        "packet_size": given.get("packet_size", DEFAULT_PACKET_SIZE),
    }
    for key, name, default in (("bandwidth", "BANDWIDTH", "100k"), ("packet_size", "PACKET_SIZE", "32")):
        if key not in present:
            notes.append(
                Note(CHANGED, where, f"{name} not set: imported as the original's default {default}")
            )
    return pair


def effective(given: dict, where: str, notes: list[Note]) -> dict:
    """Every traffic key of a group with the original's defaults: dscp, interval and two rate keys."""
    if "interval" not in given:
        notes.append(
            Note(
                CHANGED,
                where,
                f"INTERVAL not set: imported as {DEFAULT_INTERVAL} s, the default of "
                "the original's code (its README said 10 s)",
            )
        )
    return {
        "dscp": given.get("dscp", DEFAULT_DSCP),
        "interval": given.get("interval", DEFAULT_INTERVAL),
        **rate_pair(given, where, notes),
    }


def flag_packet_size(given: dict, where: str, notes: list[Note]) -> None:
    """Flag a size that may count headers (only one above 46, the Ethernet+IP+UDP header bytes, can)."""
    if given.get("packet_size", 0) > HEADER_BYTES:
        notes.append(
            Note(
                TODO,
                f"{where}: PACKET_SIZE",
                f"{given['packet_size']} kept as written; it is the UDP "
                "payload iperf3 sends (-l). If it counted Ethernet/IP/UDP headers, as the original "
                f"README's G.711 example did (218 = 18+20+8+12+160), lower it by {HEADER_BYTES}",
            )
        )


def profile_entry(profile: Profile) -> dict:
    """A profile as written; if it gives two or more rate keys, the pair the original would use."""
    given = profile.traffic.given
    entry = {key: value for key, value in given.items() if key not in RATE_KEYS}
    rates = {key: given[key] for key in RATE_KEYS if key in given}
    if len(rates) >= 2:
        rates = rate_pair(given, f"[[IPERF3_PROFILE]] {profile.uid}", [])  # its notes are made per group
    return {**rates, **entry}


def group_entry(group: MeshGroup, profile: Profile | None, notes: list[Note]) -> dict:
    """The syntraf_mesh_groups value (without members) that measures what the original measured.

    The original copied the profile over the group's own values; syntraf lets the group's keys win. So the
    entry keeps only the group keys the profile does not set, and inlines the profile where that cannot
    give the same result."""
    where = f"[[MESH_GROUP]] {group.uid}"
    own = group.traffic.given
    if profile is None:
        flag_packet_size(own, where, notes)
        return effective(own, where, notes)
    from_profile = profile.traffic.given
    for key in own.keys() & from_profile.keys():
        if own[key] != from_profile[key]:
            notes.append(
                Note(
                    CHANGED,
                    f"{where}: {ORIGINAL_KEYS[key]}",
                    f"left out: the original let IPERF3_PROFILE "
                    f"{profile.uid} overwrite it ({own[key]} -> {from_profile[key]})",
                )
            )
    wanted = effective({**own, **from_profile}, where, notes)
    flag_packet_size({key: value for key, value in own.items() if key not in from_profile}, where, notes)
    written = profile_entry(profile)
    # Whatever the profile does not write is written in the group, defaults included, so syntraf's own
    # defaults (interval 10 s) never apply by accident.
    kept = {key: value for key, value in wanted.items() if key not in written}
    if {**written, **kept} == wanted:
        return {"profile": profile.uid, **kept}
    notes.append(
        Note(
            CHANGED,
            f"{where}: IPERF3_PROFILE",
            f"{profile.uid}'s values are written into the group: "
            "with syntraf's rule (group keys override the profile) a reference could not give the same "
            "traffic",
        )
    )
    return wanted
