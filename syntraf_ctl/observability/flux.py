"""InfluxDB 2 downsampling task (Flux): one point per edge per minute in a second bucket, sums kept as sums.

Not executable on this project's machines (no Flux engine installable): the text is compared with a reviewed
golden file (tests/observability/golden/) and its design is in docs/observability.md.
"""

from __future__ import annotations

# (source field, aggregate, stored field): the loss of any window of the 1-minute bucket is then
# sum(lost) / sum(packets), exactly as on the raw bucket; jitter keeps its max and p95, never a mean.
AGGREGATES = (
    ("lost", "sum", "lost"),
    ("packets", "sum", "packets"),
    ("out_of_order", "sum", "out_of_order"),
    ("up", "sum", "up_sum"),
    ("up", "count", "points"),
    ("up", "min", "up_min"),
    ("jitter_ms", "max", "jitter_ms_max"),
    ("jitter_ms", "p95", "jitter_ms_p95"),
    ("bitrate_bps", "mean", "bitrate_bps"),
)
P95 = "(column, tables=<-) => tables |> quantile(q: 0.95, column: column)"
LATE_OFFSET = "5m"  # points a probe spooled for up to this long still land in their minute


def downsample_task(org: str, bucket: str) -> str:
    """The task that writes `<bucket>_1m` from `bucket` every minute."""
    streams = []
    for index, (source, aggregate, stored) in enumerate(AGGREGATES):
        function = P95 if aggregate == "p95" else aggregate
        streams.append(
            f"s{index} = data\n"
            f'  |> filter(fn: (r) => r._field == "{source}")\n'
            f"  |> aggregateWindow(every: 1m, fn: {function}, createEmpty: false)\n"
            f'  |> set(key: "_field", value: "{stored}")\n'
        )
    names = ", ".join(f"s{index}" for index in range(len(AGGREGATES)))
    return (
        f'option task = {{name: "syntraf-downsample-1m", every: 1m, offset: {LATE_OFFSET}}}\n\n'
        f'data = from(bucket: "{bucket}")\n'
        "  |> range(start: -task.every)\n"
        '  |> filter(fn: (r) => r._measurement == "syntraf")\n\n'
        + "\n".join(streams)
        + f'\nunion(tables: [{names}])\n  |> to(bucket: "{bucket}_1m", org: "{org}")\n'
    )
