# gdb script for bench/avx2-only.sh: every CPUID instruction in ONNX Runtime's library answers as an AVX2-only CPU
# does (no AVX-512, no VNNI: an AMD Zen 3), so MLAS picks the AVX2 kernels at start-up. Two breakpoints per CPUID
# site, hit only while ONNX Runtime reads the CPU: before it (the leaf asked for) and after it (the answer masked).
import re
import subprocess

import gdb

# Leaf 7.0: EBX avx512f/dq/ifma/cd/bw/vl; ECX avx512vbmi/vbmi2/vnni/bitalg/vpopcntdq; EDX avx512 4vnniw/4fmaps/
# vp2intersect/fp16, amx-bf16/tile/int8. Leaf 7.1: EAX avx-vnni, avx512-bf16, avx-ifma; EDX avx-vnni-int8,
# avx-ne-convert, avx-vnni-int16, avx10.
CLEAR = {
    (7, 0): {"b": [16, 17, 21, 28, 30, 31], "c": [1, 6, 11, 12, 14], "d": [2, 3, 8, 22, 23, 24, 25]},
    (7, 1): {"a": [4, 5, 23], "d": [4, 5, 10, 19]},
}
asked = {}


def register(name):
    return int(gdb.parse_and_eval("$r" + name)) & 0xFFFFFFFF


class Before(gdb.Breakpoint):
    def stop(self):
        asked[gdb.selected_thread().ptid] = (register("ax"), register("cx"))
        return False


class After(gdb.Breakpoint):
    def stop(self):
        leaf = asked.pop(gdb.selected_thread().ptid, None)
        for reg, bits in CLEAR.get(leaf, {}).items():
            value = register(reg + "x")
            for bit in bits:
                value &= ~(1 << bit)
            gdb.execute("set $r%sx = %d" % (reg, value))
        return False


def on_new_objfile(event):
    path = event.new_objfile.filename
    if not path.endswith("libonnxruntime.so"):
        return
    listing = subprocess.run(["objdump", "-d", "--no-show-raw-insn", path], capture_output=True, text=True, check=True).stdout
    sites = [int(line.split(":")[0], 16) for line in listing.splitlines() if re.search(r"\scpuid\s*$", line)]
    symbols = subprocess.run(["nm", "-D", "--defined-only", path], capture_output=True, text=True, check=True).stdout
    offset = next(int(f[0], 16) for f in (line.split() for line in symbols.splitlines()) if len(f) == 3 and f[2].split("@")[0] == "OrtGetApiBase")
    base = int(gdb.parse_and_eval("(long)&OrtGetApiBase")) - offset
    for site in sites:
        Before("*0x%x" % (base + site), internal=True)
        After("*0x%x" % (base + site + 2), internal=True)  # CPUID is two bytes long
    gdb.write("avx2-only: %d CPUID sites of %s answer without AVX-512 and VNNI\n" % (len(sites), path), gdb.STDERR)


gdb.events.new_objfile.connect(on_new_objfile)
