"""PromQL/MetricsQL for Prometheus-compatible stores (VictoriaMetrics): field `f` of measurement `m` is the
series `m_f`, tags are labels (docs/metrics.md). Loss is always Σlost/Σpackets, never a mean of loss_pct."""

from __future__ import annotations

EDGE = "group, src, dst"


def selector(metric: str, **labels: str) -> str:
    """`syntraf_<metric>{k="v",...}`; a value starting with `~` is a regex match."""
    matchers = [
        f'{key}=~"{value[1:]}"' if value.startswith("~") else f'{key}="{value}"'
        for key, value in sorted(labels.items())
    ]
    return f"syntraf_{metric}{{{','.join(matchers)}}}"


def loss_pct(window: str, by: str = EDGE, **labels: str) -> str:
    """Loss % over `window`: 100 Σlost / Σpackets of every point in it (edges with no packet are left out)."""
    lost = f"sum by ({by}) (sum_over_time({selector('lost', **labels)}[{window}]))"
    packets = f"sum by ({by}) (sum_over_time({selector('packets', **labels)}[{window}]))"
    return f"100 * {lost} / ({packets} > 0)"


def jitter_p95(window: str, by: str = EDGE, **labels: str) -> str:
    return f"max by ({by}) (quantile_over_time(0.95, {selector('jitter_ms', **labels)}[{window}]))"


def outage_s(window: str, interval: float, by: str = EDGE, **labels: str) -> str:
    """Seconds in outage: one interval per `up=0` point (up is 0 or 1, so count - sum counts the zeros)."""
    up = selector("up", **labels)
    return f"{interval:g} * sum by ({by}) (count_over_time({up}[{window}]) - sum_over_time({up}[{window}]))"


def bitrate(window: str, by: str = EDGE, **labels: str) -> str:
    return f"avg by ({by}) (avg_over_time({selector('bitrate_bps', **labels)}[{window}]))"


def mos_mean(window: str, by: str = EDGE, **labels: str) -> str:
    """The echo's mean MOS over `window` (syntraf_voice: groups with `echo`)."""
    return f"avg by ({by}) (avg_over_time({selector('voice_mos', **labels)}[{window}]))"


def remarked_max(window: str, by: str = EDGE, **labels: str) -> str:
    """The largest share of echo packets that arrived with another DSCP than sent, over `window`."""
    return f"max by ({by}) (max_over_time({selector('voice_remarked_pct', **labels)}[{window}]))"


def probe_field(field: str, **labels: str) -> str:
    """The last health value of each probe (host, group) within the last 2 minutes."""
    return f"max by (host, group) (last_over_time({selector('probe_' + field, **labels)}[2m]))"


def drift(planned: dict[tuple[str, str], str]) -> str:
    """Probes reporting a config revision other than the one planned for their host and group."""
    return " or ".join(
        f'last_over_time(syntraf_probe_edges_configured{{group="{group}",host="{host}",revision!="{rev}"}}[2m])'
        for (host, group), rev in sorted(planned.items())
    )


def probe_absent(expected: list[tuple[str, str]], window: str) -> str:
    """One series {host, group} for each planned probe with no health point within `window`."""
    return " or ".join(
        f'absent_over_time(syntraf_probe_edges_configured{{group="{group}",host="{host}"}}[{window}])'
        for host, group in expected
    )
