#!/usr/bin/env bash
# Install what `make test` and `make demo` need on a fresh Debian 12 machine:
# apt packages, and the virtualenv .venv from the pinned requirements.
# Safe to rerun: does nothing when everything is already in place.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(
  iproute2 iptables iputils-ping procps kmod
  docker.io debootstrap
  containernetworking-plugins
  podman
  python3 python3-venv python3-pyroute2
  make git rsync ca-certificates
  shellcheck ethtool
  clang llvm libbpf-dev bpftool
  dnsmasq-base nftables tcpdump strace iperf3
)

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo ">> apt-get install ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

# podman (for tests/integration/runtime/test_cni_gc_podman.py, which gives it
# its own network_config_dir) ships /etc/cni/net.d/87-podman-bridge.conflist
# as a conffile: a network "podman" (bridge cni-podman0, 10.88.0.0/16, ipMasq)
# in the default conf_dir of every CNI runtime and of this collection, where it
# would load next to, or before, what the roles and tests write. It is removed
# only when it is exactly the file the package shipped: its md5 is the one
# dpkg recorded for the conffile (dpkg's own test of "modified"; the example
# /usr/share/doc/podman/examples/cni/net.d/87-podman-bridge.conflist is a
# commented variant, never byte-identical to it). An edited file stays. Then
# the directories it leaves empty go (rmdir removes only empty ones). dpkg
# does not bring a deleted conffile back on upgrade.
podman_conf=/etc/cni/net.d/87-podman-bridge.conflist
if [[ -f $podman_conf ]]; then
  shipped=$(dpkg-query -W -f='${Conffiles}' podman 2>/dev/null | awk -v f="$podman_conf" '$1 == f {print $2}')
  if [[ -n $shipped && "$(md5sum < "$podman_conf" | cut -d' ' -f1)" == "$shipped" ]]; then
    echo ">> removing podman's unmodified $podman_conf"
    rm -f "$podman_conf"
    rmdir --ignore-fail-on-non-empty /etc/cni/net.d /etc/cni
  fi
fi

# The venv is built with Debian's python3 so that it does not depend on any
# interpreter installed by hand.
PY=/usr/bin/python3
stamp=.venv/.requirements.sha256
want=$(cat requirements.txt requirements-dev.txt constraints.txt | sha256sum | cut -d' ' -f1)
if [[ ! -x .venv/bin/python || ! -f $stamp || "$(cat "$stamp")" != "$want" ]]; then
  echo ">> creating .venv"
  [[ -x .venv/bin/python ]] || "$PY" -m venv .venv
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt -c constraints.txt
  echo "$want" > "$stamp"
fi

# ansible-test downloads a pip bootstrap script from a host this machine
# cannot reach; a stand-in at its cache path uses the stdlib ensurepip and
# the system CA bundle instead.
bash hack/get-pip-standin.sh

# The collection must live under ansible_collections/cni/node to be found:
# build/collections is the collections path used by tests, lab and demo.
mkdir -p build/collections/ansible_collections/cni
ln -sfn "$PWD" build/collections/ansible_collections/cni/node
echo ">> dependencies ready"
