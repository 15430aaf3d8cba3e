#!/usr/bin/env bash
# Runs a command with every .NET program it starts (`dotnet <program>.dll ...`) seeing an AVX2-only CPU, as on an AMD
# Zen 3: ONNX Runtime's CPU detection answers without AVX-512 and VNNI (bench/avx2-only.py, under gdb), so MLAS runs
# its AVX2 kernels for float32 and int8, and .NET's own code is compiled without AVX-512 (DOTNET_EnableAVX512=0).
# It runs at this host's own speed, so an AVX-512 host measures the AVX2 kernels side by side with everything else
# (tests/EmulatedCpuTests check their results under QEMU's emulated Haswell instead). `dotnet build` and the like run
# as usual. Needs gdb and binutils (on this machine kind; installed from Debian otherwise).
# Usage: bench/avx2-only.sh command [args...]    e.g. bench/avx2-only.sh bench/forward.sh 2 7
set -euo pipefail
[ $# -gt 0 ] || { echo "usage: bench/avx2-only.sh command [args...]" >&2; exit 2; }
here=$(cd "$(dirname "$0")" && pwd)
if ! command -v gdb >/dev/null || ! command -v objdump >/dev/null; then
  [ "$(id -u)" -eq 0 ] || { echo "avx2-only: needs gdb and binutils (apt-get install gdb binutils)" >&2; exit 1; }
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq gdb binutils >/dev/null
fi
dotnet=$(command -v dotnet)
shim=$(mktemp -d)
trap 'rm -rf "$shim"' EXIT
# A `dotnet` first on PATH: programs (a .dll or `exec`) run under gdb with the CPUID mask, SDK commands as usual.
# The program's output stays on stdout (fd 3 inside), gdb's own messages go to stderr.
cat > "$shim/dotnet" <<SHIM
#!/usr/bin/env bash
case "\${1:-}" in
  *.dll|exec) exec gdb -q -batch -nx -ex "set pagination off" -ex "set print thread-events off" -ex "set print inferior-events off" \\
    -ex "handle all nostop noprint pass" -x "$here/avx2-only.py" -ex "run \$(printf '%q ' "\$@") 1>&3" -ex "quit \\\$_exitcode" \\
    "$dotnet" 3>&1 1>&2 ;;
  *) exec "$dotnet" "\$@" ;;
esac
SHIM
chmod +x "$shim/dotnet"
export PATH="$shim:$PATH" DOTNET_EnableAVX512=0 DOTNET_EnableAVXVNNI=0
"$@"
