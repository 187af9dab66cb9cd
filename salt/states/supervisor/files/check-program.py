#!/usr/bin/python3
# Managed by Salt (webstack supervisor role). Checks a supervisord program
# config with supervisord's own parser, as Salt's check_cmd: exit 0 when
# supervisord would load it, else 1 and the reason.
import os
import sys

from supervisor.options import ServerOptions, UnhosedConfigParser


def main(path):
    options = ServerOptions()
    options.here = os.path.dirname(os.path.abspath(path))
    parser = UnhosedConfigParser()
    parser.expansions = options.environ_expansions
    with open(path, encoding="utf-8") as fh:
        parser.read_file(fh)
    if not any(s.startswith("program:") for s in parser.sections()):
        raise ValueError("no [program:...] section")
    options.process_groups_from_parser(parser)


if __name__ == "__main__":
    try:
        main(sys.argv[1])
    except Exception as exc:  # noqa: BLE001 - any parse problem fails the check
        sys.exit(f"{sys.argv[1]}: {exc}")
