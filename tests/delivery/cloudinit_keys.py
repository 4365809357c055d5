#!/usr/bin/python3
"""tests/delivery/cloudinit_keys.py FILE… — strict top-level key check for #cloud-config files.

`cloud-init schema` accepts unknown top-level keys silently (a misspelt `runcmds:` would pass),
so this lists the keys that no module of the installed cloud-init's schema defines and exits
1 when there is any. Run it with Debian's /usr/bin/python3 (cloud-init's modules live there).
"""
import sys

import yaml
from cloudinit.config.schema import get_schema


def known_keys():
    schema = get_schema()
    known = set(schema.get("properties", {}))
    for ref in schema.get("allOf", []):
        name = ref.get("$ref", "").split("/")[-1]
        known |= set(schema.get("$defs", {}).get(name, {}).get("properties", {}))
    return known


def main(paths):
    known = known_keys()
    bad = 0
    for path in paths:
        with open(path, encoding="utf-8") as f:
            cfg = yaml.safe_load(f)
        if not isinstance(cfg, dict):
            print(f"{path}: not a mapping")
            bad += 1
            continue
        unknown = sorted(set(cfg) - known)
        print(f"{path}: unknown top-level keys: {', '.join(unknown) if unknown else 'none'}"
              f" ({len(cfg)} keys, {len(known)} known)")
        bad += bool(unknown)
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
