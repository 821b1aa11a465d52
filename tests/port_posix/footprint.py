#!/usr/bin/env python3
"""Splits a GNU ld map file of the x86-64 (or other hosted ELF) link of the
port flavour's example by origin, reusing mcu/footprint.py's attribution of
libiotkit_port.a members (mbedTLS, iotkit-core, iotkit-port, Rust's
libraries, unattributable merged Rust constants).

Usage: footprint.py IMAGE.map
On a hosted target the read-only data and the unwind tables are output
sections of their own (on the MCU's linker script .rodata sits in .text),
and `size` counts them in "text": .text/.init/.fini/.plt* are code,
.rodata* read-only data, .eh_frame/.eh_frame_hdr/.gcc_except_table unwind
tables (one input section per object, so shown as a row of their own), the
relocation-read-only and writable data (.data.rel.ro, .got, .init_array,
.data, ...) data, .bss/.tbss bss. glibc is linked dynamically: only its
static start-up parts are in the image."""
import importlib.util
import os
import re
import sys
from collections import defaultdict

# mcu/footprint.py, by path (this file has the same module name).
_spec = importlib.util.spec_from_file_location(
    "mcu_footprint", os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "mcu", "footprint.py"))
mcu = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(mcu)

SECTION = re.compile(r"^ (\.[\w.$@-]+|COMMON)\s*(0x[0-9a-f]+)?\s*(0x[0-9a-f]+)?\s*(\S.*)?$")
TAIL = re.compile(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$")

CODE = (".text", ".init", ".fini", ".plt", ".plt.got", ".plt.sec")
RODATA = (".rodata", ".interp", ".note.gnu.build-id", ".note.ABI-tag", ".gnu.hash", ".dynsym", ".dynstr",
          ".gnu.version", ".gnu.version_r", ".rela.dyn", ".rela.plt", ".note.gnu.property")
UNWIND = (".eh_frame", ".eh_frame_hdr", ".gcc_except_table")
DATA = (".data.rel.ro", ".dynamic", ".got", ".got.plt", ".init_array", ".fini_array", ".data", ".tdata")
BSS = (".bss", ".tbss")


def kind_of(out_section):
    for kinds, name in ((CODE, "text"), (RODATA, "rodata"), (UNWIND, "unwind"), (DATA, "data"), (BSS, "bss")):
        if out_section in kinds:
            return name
    return None


def origin(name, path):
    base = path.rsplit("/", 1)[-1]
    if "libiotkit_port.a(" in base:
        who = mcu.origin(name, path)
        if who == "Rust core/alloc/builtins" and ("3std" in name or "std-" in base):
            return "Rust std"
        return who
    if "hal_posix" in base or "posix_main" in base:
        return "POSIX port + board (tests/port_posix)"
    if "mqtt_example" in base:
        return "example (C)"
    # The linker attributes its own tables to the first object (Scrt1.o).
    return "C start-up + dynamic linking (PIE relocations, .dynsym, .plt, .got)"


def main():
    lines = open(sys.argv[1], errors="replace").read().splitlines()
    try:
        start = next(i for i, l in enumerate(lines) if l.startswith("Linker script and memory map"))
    except StopIteration:
        sys.exit("not a GNU ld map file")
    sizes = defaultdict(lambda: defaultdict(int))
    out_section = None
    i = start
    while i < len(lines):
        line = lines[i]
        if line.startswith("."):
            out_section = line.split()[0]
        m = SECTION.match(line)
        kind = kind_of(out_section)
        if m and kind:
            name, addr, size, path = m.groups()
            if size is None and i + 1 < len(lines):
                t = TAIL.match(lines[i + 1])
                if t:
                    addr, size, path = t.groups()
                    i += 1
            if size and path and addr and int(addr, 16) != 0 and not path.startswith("load address"):
                who = "unwind tables (all origins)" if kind == "unwind" else origin(name, path)
                sizes[who][kind] += int(size, 16)
        i += 1
    rows = []
    for who, s in sizes.items():
        text = s["text"] + s["rodata"] + s["unwind"]
        rows.append((text, who, s["text"], s["rodata"] + s["unwind"], s["data"], s["bss"]))
    rows.sort(reverse=True)
    print("| origin | code | read-only data | `size` text (code + read-only) | data | bss |")
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    tot = [0] * 4
    for text, who, code, ro, data, bss in rows:
        print(f"| {who} | {code:,} | {ro:,} | {text:,} | {data:,} | {bss:,} |")
        for k, v in enumerate((code, ro, data, bss)):
            tot[k] += v
    print(f"| **total** | {tot[0]:,} | {tot[1]:,} | **{tot[0] + tot[1]:,}** | {tot[2]:,} | {tot[3]:,} |")
    print()
    print("(The map gives mergeable string sections their size before merging, so the")
    print("read-only rows, mostly the unattributed Rust strings, add up to a little more")
    print("than `size` reports for the image.)")


if __name__ == "__main__":
    main()
