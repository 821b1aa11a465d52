#!/usr/bin/env python3
"""Writes state_codes.inc (CHECK_INT per state code) from docs/state-codes.csv."""
import csv
import pathlib

here = pathlib.Path(__file__).resolve().parent
rows = csv.DictReader(open(here.parent.parent / "docs" / "state-codes.csv"))
lines = ["/* Generated from docs/state-codes.csv by tests/c/gen_state_codes.py: every code and its value. */"]
lines += [f"CHECK_INT({r['name']}, {r['value']});" for r in rows]
(here / "state_codes.inc").write_text("\n".join(lines) + "\n")
names = [r["name"] for r in csv.DictReader(open(here.parent.parent / "docs" / "state-codes.csv"))]
(here / "state_code_list.inc").write_text(
    "/* Generated from docs/state-codes.csv by tests/c/gen_state_codes.py. */\n"
    + "".join(f"{n},\n" for n in names)
)
