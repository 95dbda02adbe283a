"""What only tests and benchmarks use: test labs on free subnets, a running lab as an object, the WAN lab's
InfluxDB and its ledger of what the emulator did. `syntraf-ctl lab` (a user command) lives in the product."""
