#!/usr/bin/env python3
"""Splits a GNU ld map file of the image by origin: mbedTLS, the library's
core (iotkit-core), the port crate (iotkit-port), Rust's core/alloc, the C
port and start-up code, the example, newlib/libgcc.

Usage: footprint.py IMAGE.map
Prints flash (text + rodata + data init) and RAM (data + bss) per origin.
Rust is linked with LTO, so inlined code counts where it was inlined;
sections are attributed by the crate in their mangled names; merged string
and anonymous constant sections cannot be attributed."""
import re
import sys
from collections import defaultdict

SECTION = re.compile(r"^ (\.[\w.$]+)\s*(0x[0-9a-f]+)?\s*(0x[0-9a-f]+)?\s*(\S.*)?$")
TAIL = re.compile(r"^\s+(0x[0-9a-f]+)\s+(0x[0-9a-f]+)\s+(\S.*)$")


def origin(name, path):
    base = path.rsplit("/", 1)[-1]
    if "libiotkit_port.a(" in base:
        member = base.split("(", 1)[1].rstrip(")")
        if member.endswith(".c.obj") or member.endswith(".c.o"):
            return "mbedTLS"
        if member.startswith("compiler_builtins"):
            return "Rust core/alloc/builtins"
        # v0 mangling: crate names appear as <len><name>; the first of the
        # two iotkit crates named decides (a generic of `core` instantiated
        # for a type of iotkit-core counts as iotkit-core).
        core_at = name.find("11iotkit_core")
        port_at = name.find("11iotkit_port")
        if "iotkit_mcu_" in name or (port_at >= 0 and (core_at < 0 or port_at < core_at)):
            return "iotkit-port (Rust)"
        if core_at >= 0:
            return "iotkit-core (Rust)"
        if name.startswith(".rodata.") and ("str1" in name or ".Lanon" in name):
            return "Rust strings and constants (unattributed)"
        return "Rust core/alloc/builtins"
    if any(lib in base for lib in ("libc_nano.a", "libm.a", "libgcc.a", "libnosys.a", "libc.a")):
        return "newlib-nano + libgcc"
    if "mqtt_example" in base:
        return "example (C)"
    return "C port + start-up (mcu/)"


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
        if m and out_section in (".text", ".data", ".bss"):
            name, addr, size, path = m.groups()
            if size is None:
                if i + 1 < len(lines):
                    t = TAIL.match(lines[i + 1])
                    if t:
                        addr, size, path = t.groups()
                        i += 1
            if size and path and int(addr, 16) != 0:
                kind = out_section
                if out_section == ".text" and name.startswith(".rodata"):
                    kind = ".rodata"
                sizes[origin(name, path)][kind] += int(size, 16)
        i += 1
    rows = []
    for who, s in sizes.items():
        flash = s[".text"] + s[".rodata"] + s[".data"]
        ram = s[".data"] + s[".bss"]
        rows.append((flash, who, s[".text"], s[".rodata"], s[".data"], s[".bss"], ram))
    rows.sort(reverse=True)
    print(f"| origin | text | rodata | data | bss | flash (text+rodata+data) | static RAM (data+bss) |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    tot = [0] * 6
    for flash, who, t, r, d, b, ram in rows:
        print(f"| {who} | {t:,} | {r:,} | {d:,} | {b:,} | {flash:,} | {ram:,} |")
        for k, v in enumerate((t, r, d, b, flash, ram)):
            tot[k] += v
    print(f"| **total** | {tot[0]:,} | {tot[1]:,} | {tot[2]:,} | {tot[3]:,} | **{tot[4]:,}** | **{tot[5]:,}** |")


if __name__ == "__main__":
    main()
