"""`facewatchd`: the command line, where errors become exit statuses."""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path

from .. import __version__, config
from ..engine.pool import start_forkserver
from ..errors import FacewatchError
from . import log
from .signals import Signals


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="facewatchd",
        description="Sort incoming photos and videos into folders by the people in them.")
    p.add_argument("--config", type=Path, default=config.DEFAULT_PATH, metavar="PATH",
                   help=f"the TOML configuration file (default: {config.DEFAULT_PATH})")
    p.add_argument("--oneshot", action="store_true",
                   help="sort what is in the inbound folders now, print a summary and exit")
    p.add_argument("-v", "--verbose", action="count", default=0, help="log more")
    p.add_argument("-q", "--quiet", action="store_true", help="log only warnings and errors")
    p.add_argument("--log", choices=log.TARGETS, default="auto",
                   help="where logs go; auto: journald when run by systemd, else stderr")
    p.add_argument("--version", action="version", version=f"facewatchd {__version__}")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    log.setup(-1 if args.quiet else args.verbose, args.log)
    signals = Signals()
    try:
        cfg = config.load(args.config)
        if cfg.cluster is None:
            # The workers' forkserver loads the models (~0.2 s) while the rest is
            # imported here (~0.2 s), instead of after it: it is needed next.
            start_forkserver()
        from . import oneshot
        from .daemon import Daemon

        if not args.oneshot:
            return Daemon(cfg, signals).run()
        signals.install()
        if args.verbose == 0 and not log.to_journal(args.log):
            # On a terminal or a pipe the progress line says it: the line per file only with -v.
            logging.getLogger("facewatchd.sorter").setLevel(logging.WARNING)
        summary = oneshot.run(cfg, signals)
        print(oneshot.format_summary(summary))
        return 0
    except FacewatchError as e:
        print(f"facewatchd: {e}", file=sys.stderr)
        return e.exit_status
