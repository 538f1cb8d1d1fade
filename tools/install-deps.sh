#!/bin/sh
# Installs the Debian packages the build and tests need; does nothing when all are present.
# Usage: tools/install-deps.sh [extra-package ...]
set -eu

packages="libbpf-dev libxdp-dev libelf-dev zlib1g-dev libssl-dev openssl clang llvm bpftool xdp-tools \
iproute2 iputils-ping ethtool pkg-config tshark python3 python3-pip python3-venv procps psmisc $*"

missing=""
for package in $packages; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing="$missing $package"
    fi
done
[ -z "$missing" ] && exit 0

if [ "$(id -u)" != 0 ]; then
    echo "error: missing Debian packages:$missing" >&2
    echo "fix: run 'sudo make deps' (or: sudo apt-get install$missing)" >&2
    exit 1
fi
echo "installing:$missing"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends $missing >/dev/null
