option task = {name: "syntraf-downsample-1m", every: 1m, offset: 5m}

data = from(bucket: "syntraf")
  |> range(start: -task.every)
  |> filter(fn: (r) => r._measurement == "syntraf")

s0 = data
  |> filter(fn: (r) => r._field == "lost")
  |> aggregateWindow(every: 1m, fn: sum, createEmpty: false)
  |> set(key: "_field", value: "lost")

s1 = data
  |> filter(fn: (r) => r._field == "packets")
  |> aggregateWindow(every: 1m, fn: sum, createEmpty: false)
  |> set(key: "_field", value: "packets")

s2 = data
  |> filter(fn: (r) => r._field == "out_of_order")
  |> aggregateWindow(every: 1m, fn: sum, createEmpty: false)
  |> set(key: "_field", value: "out_of_order")

s3 = data
  |> filter(fn: (r) => r._field == "up")
  |> aggregateWindow(every: 1m, fn: sum, createEmpty: false)
  |> set(key: "_field", value: "up_sum")

s4 = data
  |> filter(fn: (r) => r._field == "up")
  |> aggregateWindow(every: 1m, fn: count, createEmpty: false)
  |> set(key: "_field", value: "points")

s5 = data
  |> filter(fn: (r) => r._field == "up")
  |> aggregateWindow(every: 1m, fn: min, createEmpty: false)
  |> set(key: "_field", value: "up_min")

s6 = data
  |> filter(fn: (r) => r._field == "jitter_ms")
  |> aggregateWindow(every: 1m, fn: max, createEmpty: false)
  |> set(key: "_field", value: "jitter_ms_max")

s7 = data
  |> filter(fn: (r) => r._field == "jitter_ms")
  |> aggregateWindow(every: 1m, fn: (column, tables=<-) => tables |> quantile(q: 0.95, column: column), createEmpty: false)
  |> set(key: "_field", value: "jitter_ms_p95")

s8 = data
  |> filter(fn: (r) => r._field == "bitrate_bps")
  |> aggregateWindow(every: 1m, fn: mean, createEmpty: false)
  |> set(key: "_field", value: "bitrate_bps")

union(tables: [s0, s1, s2, s3, s4, s5, s6, s7, s8])
  |> to(bucket: "syntraf_1m", org: "noc")
