#!/usr/bin/env python3
"""Lets a CUDA build of ebm-workbench start on a machine without the CUDA libraries.

candle links cudarc with `dynamic-linking`: the driver (libcuda.so.1), cuBLAS, cuBLASLt,
cuRAND and NVRTC become start-up dependencies of the binary, and the system's loader
refuses to start it where one is missing, before `main` runs. This script takes them out
of the binary (ELF, x86-64 or aarch64 Linux), in place and atomically:

- their DT_NEEDED entries,
- their entries in the version needs table (.gnu.version_r), and the version index of
  each symbol that pointed at one (set to "global"), as glibc's loader checks every
  version need against a loaded library;

and writes their names, in load order (the driver first), after the tag
`EBM-WORKBENCH-CUDA-LIBRARIES:` that the binary carries (`device::cuda_libraries`). The
program then loads them with dlopen(RTLD_GLOBAL) the first time a CUDA device is asked
for; its calls into them resolve lazily, through the PLT, at their first use. That needs
a binary linked for lazy binding: build with RUSTFLAGS="-C relro-level=partial" (full
RELRO binds every symbol at start-up). The script refuses a binary that binds at start
or takes the address of a CUDA function.

usage: unlink.py BINARY [BINARY...]
"""

import os
import struct
import sys
import tempfile

CUDA = ("libcuda", "libcublas", "libcublasLt", "libcurand", "libnvrtc", "libcudart")
TAG = b"EBM-WORKBENCH-CUDA-LIBRARIES:"
CAPACITY = 512  # device::cuda_libraries::CAPACITY

DT_NULL, DT_NEEDED, DT_STRTAB, DT_BIND_NOW, DT_FLAGS = 0, 1, 5, 24, 30
DT_VERSYM, DT_VERNEED, DT_VERNEEDNUM, DT_FLAGS_1 = 0x6FFFFFF0, 0x6FFFFFFE, 0x6FFFFFFF, 0x6FFFFFFB
DF_BIND_NOW, DF_1_NOW = 0x8, 0x1
PT_LOAD, PT_DYNAMIC = 1, 2
SHT_RELA, SHT_DYNSYM, SHT_GNU_VERNEED = 4, 11, 0x6FFFFFFE
# Relocations resolved when the program starts (not through the PLT, lazily).
EAGER = {62: {1, 6}, 183: {257, 1025}}  # x86-64: R_X86_64_64, GLOB_DAT; aarch64: ABS64, GLOB_DAT


class Refused(Exception):
    pass


def is_cuda(soname: str) -> bool:
    return soname.split(".so")[0] in CUDA


class Elf:
    def __init__(self, data: bytearray, path: str):
        self.b, self.path = data, path
        if data[:4] != b"\x7fELF" or data[4] != 2 or data[5] != 1:
            raise Refused("not a 64-bit little-endian ELF file")
        (self.machine,) = struct.unpack_from("<H", data, 0x12)
        phoff, shoff = struct.unpack_from("<QQ", data, 0x20)
        phentsize, phnum, shentsize, shnum = struct.unpack_from("<HHHH", data, 0x36)
        self.ph = [struct.unpack_from("<IIQQQQQQ", data, phoff + i * phentsize) for i in range(phnum)]
        self.sh_at = [shoff + i * shentsize for i in range(shnum)]
        self.sh = [struct.unpack_from("<IIQQQQIIQQ", data, a) for a in self.sh_at]

    def off(self, vaddr: int) -> int:
        for t, _, offset, va, _, filesz, _, _ in self.ph:
            if t == PT_LOAD and va <= vaddr < va + filesz:
                return vaddr - va + offset
        raise Refused(f"address {vaddr:#x} is in no loaded segment")

    def cstr(self, at: int) -> str:
        end = self.b.index(b"\0", at)
        return self.b[at:end].decode()

    def sections(self, kind: int):
        return [(i, s) for i, s in enumerate(self.sh) if s[1] == kind]


def unlink(path: str) -> str:
    with open(path, "rb") as f:
        e = Elf(bytearray(f.read()), path)
    b = e.b
    dyn = [p for p in e.ph if p[0] == PT_DYNAMIC]
    if not dyn:
        raise Refused("a static binary (no dynamic section)")
    dyn_off, dyn_size = dyn[0][2], dyn[0][5]
    entries = []
    for i in range(dyn_size // 16):
        tag, val = struct.unpack_from("<qQ", b, dyn_off + 16 * i)
        entries.append([tag, val])
        if tag == DT_NULL:
            break
    d = {t: v for t, v in entries}
    strtab = e.off(d[DT_STRTAB])
    needed = [e.cstr(strtab + v) for t, v in entries if t == DT_NEEDED]
    cuda = [n for n in needed if is_cuda(n)]
    if not cuda:
        return "no CUDA library among its start-up dependencies: nothing to do"
    if DT_BIND_NOW in d or d.get(DT_FLAGS, 0) & DF_BIND_NOW or d.get(DT_FLAGS_1, 0) & DF_1_NOW:
        raise Refused(
            "it binds every symbol at start-up (full RELRO): build it with "
            'RUSTFLAGS="-C relro-level=partial"'
        )

    # The version needs: drop the CUDA libraries' entries, remember their indices.
    dropped_versions = set()
    if DT_VERNEED in d:
        start = at = e.off(d[DT_VERNEED])
        end, kept = at, []
        for _ in range(d[DT_VERNEEDNUM]):
            version, cnt, file, aux, nxt = struct.unpack_from("<HHIII", b, at)
            auxes, a = [], at + aux
            for _ in range(cnt):
                auxes.append(struct.unpack_from("<IHHII", b, a))
                end = max(end, a + 16)
                a += auxes[-1][4]
            end = max(end, at + 16)
            if is_cuda(e.cstr(strtab + file)):
                dropped_versions.update(x[2] & 0x7FFF for x in auxes)
            else:
                kept.append((version, file, auxes))
            if nxt == 0:
                break
            at += nxt
        size = end - start
        out = bytearray()
        for k, (version, file, auxes) in enumerate(kept):
            nxt = 0 if k == len(kept) - 1 else 16 + 16 * len(auxes)
            out += struct.pack("<HHIII", version, len(auxes), file, 16, nxt)
            for j, (h, flags, other, name, _) in enumerate(auxes):
                out += struct.pack("<IHHII", h, flags, other, name, 0 if j == len(auxes) - 1 else 16)
        b[start : start + size] = out + bytes(size - len(out))
        for t in entries:
            if t[0] == DT_VERNEEDNUM:
                t[1] = len(kept)
        for i, s in e.sections(SHT_GNU_VERNEED):
            struct.pack_into("<I", b, e.sh_at[i] + 44, len(kept))  # sh_info: the entries

    # The dynamic symbols: version indices, and no eager reference to a CUDA function.
    dynsyms = e.sections(SHT_DYNSYM)
    if not dynsyms:
        raise Refused("no dynamic symbol table")
    _, ds = dynsyms[0]
    nsym, symoff, dynstr = ds[5] // 24, ds[4], e.sh[ds[6]][4]

    def undefined_cuda(k: int) -> str | None:
        st_name, _, _, shndx = struct.unpack_from("<IBBH", b, symoff + 24 * k)
        name = e.cstr(dynstr + st_name)
        cuda_name = name.startswith(("cu", "nvrtc"))
        return name if shndx == 0 and cuda_name else None

    for _, s in e.sections(SHT_RELA):
        for r in range(s[5] // 24):
            _, info, _ = struct.unpack_from("<QQq", b, s[4] + 24 * r)
            sym, kind = info >> 32, info & 0xFFFFFFFF
            if sym and kind in EAGER.get(e.machine, set()) and (name := undefined_cuda(sym)):
                raise Refused(f"{name} is bound at start-up (its address is taken), not lazily")
    if DT_VERSYM in d and dropped_versions:
        vs = e.off(d[DT_VERSYM])
        for k in range(nsym):
            (v,) = struct.unpack_from("<H", b, vs + 2 * k)
            if v & 0x7FFF in dropped_versions:
                struct.pack_into("<H", b, vs + 2 * k, 1)

    # The dynamic section without the CUDA libraries (DT_NULL fills the end).
    rest = [t for t in entries if not (t[0] == DT_NEEDED and is_cuda(e.cstr(strtab + t[1])))]
    rest += [[DT_NULL, 0]] * (len(entries) - len(rest))
    for i, (tag, val) in enumerate(rest):
        struct.pack_into("<qQ", b, dyn_off + 16 * i, tag, val)

    # The names to load, the driver first, after the tag.
    order = sorted(cuda, key=lambda n: (not n.startswith("libcuda."), cuda.index(n)))
    hits, at = [], b.find(TAG)
    while at >= 0:
        hits.append(at)
        at = b.find(TAG, at + 1)
    if len(hits) != 1:
        raise Refused(f"the tag {TAG.decode()} is in it {len(hits)} times, not once")
    names = "\n".join(order).encode()
    room = CAPACITY - len(TAG)
    if len(names) >= room:
        raise Refused("the library names do not fit after the tag")
    b[hits[0] + len(TAG) : hits[0] + CAPACITY] = names + bytes(room - len(names))

    # Atomically: a new file beside the old one, renamed over it.
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".unlink-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(b)
        os.chmod(tmp, os.stat(path).st_mode)
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise
    return "loads at first use: " + ", ".join(order)


def main() -> int:
    if len(sys.argv) < 2:
        print(__doc__.strip().splitlines()[-1], file=sys.stderr)
        return 2
    failed = 0
    for path in sys.argv[1:]:
        try:
            print(f"{path}: {unlink(path)}")
        except (Refused, OSError, KeyError, ValueError, struct.error) as x:
            print(f"{path}: not changed: {x}", file=sys.stderr)
            failed = 1
    return failed


if __name__ == "__main__":
    sys.exit(main())
