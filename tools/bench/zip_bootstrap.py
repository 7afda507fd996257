"""Zips a Lambda binary as `bootstrap` (mode 0755, deflated), the layout `cargo lambda build
--output-format zip` writes, and prints the ELF architecture found in it.

Usage: python zip_bootstrap.py BINARY OUT.zip
       python zip_bootstrap.py --arch ZIP     (prints the architecture of the bootstrap in ZIP)
"""

import os
import sys
import zipfile

MACHINES = {0x3E: "x86_64", 0xB7: "arm64"}


def elf_arch(head):
    if head[:4] != b"\x7fELF":
        return "not an ELF binary"
    machine = int.from_bytes(head[18:20], "little")
    return MACHINES.get(machine, f"ELF machine {machine:#x}")


def arch_of_zip(path):
    with zipfile.ZipFile(path) as z:
        with z.open("bootstrap") as f:
            return elf_arch(f.read(64))


def main(argv):
    if len(argv) == 3 and argv[1] == "--arch":
        print(arch_of_zip(argv[2]))
        return 0
    if len(argv) != 3:
        print(__doc__, file=sys.stderr)
        return 2
    binary, out = argv[1], argv[2]
    os.makedirs(os.path.dirname(os.path.abspath(out)), exist_ok=True)
    info = zipfile.ZipInfo("bootstrap", date_time=(1980, 1, 1, 0, 0, 0))
    info.external_attr = (0o100755 << 16)
    info.compress_type = zipfile.ZIP_DEFLATED
    with open(binary, "rb") as f:
        data = f.read()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr(info, data, compress_type=zipfile.ZIP_DEFLATED, compresslevel=6)
    print(elf_arch(data[:64]))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
