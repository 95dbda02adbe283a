"""`syntraf-probe --config PATH`: run one mesh group until SIGTERM."""

from __future__ import annotations

import argparse
import logging
import sys
from typing import Optional

from .app import run_probe
from .config import ConfigError, load_config

EXIT_CONFIG = 2


def main(argv: Optional[list] = None) -> int:
    parser = argparse.ArgumentParser(prog="syntraf-probe", description=__doc__)
    parser.add_argument(
        "--config", required=True, help="the rendered group config, /etc/syntraf/<group>.json"
    )
    args = parser.parse_args(argv)
    # one line per event on stderr; journald adds the time and the unit
    logging.basicConfig(stream=sys.stderr, level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        config = load_config(args.config)
        logging.getLogger().setLevel(config.log_level.upper())
        return run_probe(config)
    except ConfigError as error:
        logging.getLogger("syntraf_probe").error("%s", error)
        return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
