#!/usr/bin/env bash
# Sourced by scripts/package.sh: makes sure this machine can run the arm64
# bootstraps, with Debian's qemu-user-static (qemu-aarch64) and the arm64
# C library (libc6-arm64-cross, the sysroot given to qemu with -L).
ARM64_SYSROOT=/usr/aarch64-linux-gnu
if ! command -v qemu-aarch64-static >/dev/null || [ ! -e "$ARM64_SYSROOT/lib/ld-linux-aarch64.so.1" ]; then
  command -v apt-get >/dev/null || { echo "make package: qemu-aarch64-static and an arm64 libc are needed (Debian: qemu-user-static libc6-arm64-cross)" >&2; exit 1; }
  sudo=""
  [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq qemu-user-static libc6-arm64-cross >/dev/null
fi
export ARM64_SYSROOT
