#!/usr/bin/env python3
"""Regenerates the embedded IRSF tables of the numbering crate from ../shared/data/irsf (tfps, MIT).

Usage (from the repository root or anywhere):
    python3 crates/numbering/scripts/gen_irsf_tables.py [path/to/shared/data/irsf]

Writes crates/numbering/data/irsf_country_risk.csv (calling prefix -> ISO2, tfps risk 1..3)
and crates/numbering/data/irsf_blacklist.txt (called-number prefixes reported as fraud destinations).
The output is sorted and deterministic so that a re-run shows a clean diff.
"""
import csv
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
CRATE = os.path.dirname(HERE)
DEFAULT_SRC = os.path.normpath(os.path.join(CRATE, "..", "..", "..", "shared", "data", "irsf"))
ATTRIBUTION = ("derived from github.com/nrjchnd/tfps (MIT licence, (c) 2021 Flavio E. Goncalves); "
               "regenerate with crates/numbering/scripts/gen_irsf_tables.py")


def rows(path):
    with open(path, newline="", encoding="utf-8") as f:
        lines = [l for l in f if not l.startswith('"#') and not l.startswith("#")]
    return list(csv.DictReader(lines))


def main():
    src = sys.argv[1] if len(sys.argv) > 1 else DEFAULT_SRC
    risk = {r["iso2"].strip().upper(): int(r["risk"]) for r in rows(os.path.join(src, "tfps_countries_risk.csv"))}
    out = []
    for r in rows(os.path.join(src, "tfps_dr_rules_country_prefixes.csv")):
        prefix, iso2 = r["prefix"].strip(), r["iso2"].strip().upper()
        if prefix.isdigit() and iso2 in risk:
            out.append((prefix, iso2, risk[iso2], r["description"].strip()))
    out = sorted(set(out))
    with open(os.path.join(CRATE, "data", "irsf_country_risk.csv"), "w", encoding="utf-8") as f:
        f.write(f"# {ATTRIBUTION}\n# tfps tables countries + dr_rules: prefix,iso2,risk(1 low..3 high),name\n")
        for prefix, iso2, r, name in out:
            f.write(f"{prefix},{iso2},{r},{name.replace(',', ' ')}\n")
    prefixes = sorted({r["prefix"].strip() for r in rows(os.path.join(src, "tfps_globalblacklist.csv"))
                       if r["prefix"].strip().isdigit() and 1 <= len(r["prefix"].strip()) <= 15
                       and r.get("whitelist", "0").strip() in ("0", "")})
    with open(os.path.join(CRATE, "data", "irsf_blacklist.txt"), "w", encoding="utf-8") as f:
        f.write(f"# {ATTRIBUTION}\n# tfps table globalblacklist, dated 2021-08-20: {len(prefixes)} called-number prefixes\n")
        for p in prefixes:
            f.write(p + "\n")
    print(f"{len(out)} country prefixes, {len(prefixes)} blacklisted prefixes")


if __name__ == "__main__":
    main()
