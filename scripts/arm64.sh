#!/usr/bin/env bash
# Sourced by scripts/package.sh before it builds: whether this machine can
# run the arm64 bootstraps, with qemu-aarch64-static and an arm64 C library
# (the sysroot given to qemu with -L). Installs nothing: it says how to get
# them, or how to skip the check (ARM64_CHECK=skip), and sets arm64_check
# to `run` or `skip`.
ARM64_SYSROOT=${ARM64_SYSROOT:-/usr/aarch64-linux-gnu}
if [ "${ARM64_CHECK:-}" = skip ]; then
  arm64_check=skip
elif command -v qemu-aarch64-static >/dev/null && [ -e "$ARM64_SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
  arm64_check=run
else
  cat >&2 <<MESSAGE
make package: what it builds is run under qemu before it ships, and this
machine lacks qemu-aarch64-static or an arm64 C library in $ARM64_SYSROOT.
  Debian or Ubuntu: sudo apt-get install qemu-user-static libc6-arm64-cross
  elsewhere (macOS): run make package on Linux, or build without the check:
    ARM64_CHECK=skip make package
MESSAGE
  exit 1
fi
export ARM64_SYSROOT
