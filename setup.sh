#!/usr/bin/env bash
# Installs what ergon needs to build and test on Debian 12, with apt-get. Idempotent: says
# nothing when everything is present. Run as root (or with sudo) the first time.
set -euo pipefail

# erlang-base and erlang-dev: the distribution library (erl_interface's libei) and the real
# Erlang nodes its tests talk to; clang and libclang-rt-14-dev: the term decoder's fuzzer;
# cmake: `scons check` builds a CMake project against the installed copy (tests/outside/).
packages=(g++ scons libboost-context-dev libboost-dev libjemalloc-dev googletest libgtest-dev
          pkg-config python3 valgrind erlang-base erlang-dev clang libclang-rt-14-dev cmake)

missing=()
for p in "${packages[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup.sh: missing packages: ${missing[*]}" >&2
    echo "setup.sh: run it as root (sudo ./setup.sh) or: sudo apt-get install -y ${missing[*]}" >&2
    exit 1
  fi
  echo "setup.sh: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi

# Stack guard pages: kernels before 6.13 lack MADV_GUARD_INSTALL, so each process stack costs
# two memory map areas and the default vm.max_map_count (65530) caps a program at about 32,000
# processes. Raise the cap there (as root); newer kernels need nothing.
kernel=$(uname -r | cut -d. -f1-2)
if [ "$(printf '%s\n6.13\n' "$kernel" | sort -V | head -n1)" != "6.13" ]; then
  want=4194304
  have=$(cat /proc/sys/vm/max_map_count 2>/dev/null || echo "$want")
  if [ "$have" -lt "$want" ]; then
    if [ "$(id -u)" -eq 0 ]; then
      sysctl -q -w vm.max_map_count=$want || echo "setup.sh: could not raise vm.max_map_count" >&2
    else
      echo "setup.sh: kernel $kernel: raise vm.max_map_count for many processes:" \
           "sudo sysctl -w vm.max_map_count=$want" >&2
    fi
  fi
fi
