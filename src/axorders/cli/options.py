"""Where the command line's venue comes from: the flags first, then the environment."""

from __future__ import annotations

import argparse
import os

__all__ = ["_venue", "_venue_flag"]


def _venue(args: argparse.Namespace) -> str:
    """``--url``, ``--env``, then ``AX_URL``, ``AX_ENV``; the sandbox by default."""
    if args.url:
        return str(args.url)
    if args.env:
        return str(args.env)
    return os.environ.get("AX_URL") or os.environ.get("AX_ENV") or "sandbox"


def _venue_flag(args: argparse.Namespace) -> str:
    """The flag (or variable) the venue came from, to name in a message."""
    if args.url:
        return "--url"
    if args.env:
        return "--env"
    if os.environ.get("AX_URL"):
        return "--url (or AX_URL)"
    return "--env (or AX_ENV)"
