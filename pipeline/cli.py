"""Command line: parses arguments and prints; every behaviour lives in the modules below it."""

from __future__ import annotations


def main(argv: list[str] | None = None) -> int:
    return 0
