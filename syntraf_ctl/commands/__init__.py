"""One module per `syntraf-ctl` subcommand: each has `register(subparsers)` and a `run(args) -> int`."""
