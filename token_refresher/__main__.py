"""Entry point of `cs3-token-refresher` and `python -m token_refresher`.

Configuration errors are reported here, as one line on stderr with exit status 2, before
logging is even set up: they are for the person deploying, not for the log pipeline.
"""

from __future__ import annotations

import asyncio
import os
import sys
from collections.abc import Sequence

from .config import EXIT_CONFIG, PROG, ConfigError, load_config
from .logs import register_secret, setup_logging

EXIT_INTERRUPTED = 130


def main(argv: Sequence[str] | None = None) -> int:
    try:
        config = load_config(argv, os.environ)
    except ConfigError as err:
        return config_error(err)
    register_secret(config.api_token, fixed=True)
    setup_logging(config.log_level)

    from .daemon import run_daemon, run_once  # after the checks: a bad setting fails fast

    try:
        return asyncio.run(run_once(config) if config.once else run_daemon(config))
    except ConfigError as err:
        return config_error(err)
    except KeyboardInterrupt:  # only --once: the daemon handles SIGINT itself
        return EXIT_INTERRUPTED


def config_error(err: ConfigError) -> int:
    print(f"{PROG}: configuration error: {err}", file=sys.stderr)
    return EXIT_CONFIG


if __name__ == "__main__":
    sys.exit(main())
