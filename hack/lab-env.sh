#!/usr/bin/env bash
# Sourced by hack/molecule.sh and hack/demo.sh (from the repository root):
# the environment the lab runs in, and the checks that it can run at all.

export PATH="$PWD/.venv/bin:$PATH"
export ANSIBLE_COLLECTIONS_PATH="$PWD/build/collections"
export ANSIBLE_FORCE_COLOR=${ANSIBLE_FORCE_COLOR:-0} PY_COLORS=${PY_COLORS:-0}

lab_die() { echo "!! $(basename "$0"): $*" >&2; exit 1; }

# The lab nodes boot systemd with the host's cgroup hierarchy mounted at
# /sys/fs/cgroup (molecule/*/molecule.yml: cgroupns host). On a cgroup v1
# host read-only: docker's :ro covers only the top tmpfs, the controllers
# below stay writable, and that is what systemd needs (measured). On a
# cgroup v2 host, one cgroup2 mount, it has to be read-write (the usual
# recipe; not measured on the CI's machine kind).
if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then
  export CNI_LAB_CGROUP_MODE=rw
else
  export CNI_LAB_CGROUP_MODE=ro
fi

command -v molecule >/dev/null || lab_die "molecule not found in .venv (run make deps)"
docker info >/dev/null 2>&1 || lab_die "docker does not answer (run make lab, or bash hack/dockerd.sh)"
docker image inspect cni-node-lab:latest >/dev/null 2>&1 \
  || lab_die "image cni-node-lab:latest is missing (run make lab, or bash hack/lab-image.sh)"
if [[ ! -e build/collections/ansible_collections/cni/node/galaxy.yml ]]; then
  mkdir -p build/collections/ansible_collections/cni
  ln -sfn "$PWD" build/collections/ansible_collections/cni/node
fi
