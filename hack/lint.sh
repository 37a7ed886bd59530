#!/usr/bin/env bash
# ansible-lint (production profile, offline, warnings fatal: see
# .ansible-lint) on the Ansible content of the collection: roles/, bench/conventional/,
# playbooks/, molecule/, plus galaxy.yml and meta/ (collection metadata).
# Fails on any finding.
#
# A directory that does not exist yet (git keeps no empty folder) is left
# out: ansible-lint would report it as a load failure. An empty one is
# linted and counts no file. The closing line counts the files ansible-lint
# processed, so a run that checked nothing is visible; a run in which none of
# the targets exists fails.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 NO_COLOR=1
# Playbooks call cni.node.* modules: ansible-lint's syntax check must find
# this collection (the same path hack/bootstrap.sh sets up).
export ANSIBLE_COLLECTIONS_PATH="$ROOT/build/collections"
mkdir -p build/collections/ansible_collections/cni
[[ -e build/collections/ansible_collections/cni/node ]] \
  || ln -sfn "$ROOT" build/collections/ansible_collections/cni/node

targets=()
for t in roles playbooks molecule bench/conventional galaxy.yml meta; do
  if [[ -e $t ]]; then targets+=("$t"); else echo ">> lint: $t does not exist yet, skipped"; fi
done
if ((${#targets[@]} == 0)); then
  echo "!! lint: nothing to lint"
  exit 1
fi

echo ">> ansible-lint ${targets[*]}"
log=$(mktemp)
trap 'rm -f "$log"' EXIT
rc=0
ansible-lint --offline --profile production --strict --nocolor "${targets[@]}" "$@" 2>&1 \
  | tee "$log" || rc=${PIPESTATUS[0]}

# ansible-lint's own closing line, e.g.
#   Passed: 0 failure(s), 0 warning(s) in 12 files processed of 14 encountered. ...
summary=$(grep -E '^(Passed|Failed): ' "$log" | tail -1 || true)
files=$(sed -nE 's/.* in ([0-9]+) files processed.*/\1/p' <<<"$summary")
failures=$(sed -nE 's/^[A-Za-z]+: ([0-9]+) failure.*/\1/p' <<<"$summary")
warnings=$(sed -nE 's/.* ([0-9]+) warning\(s\).*/\1/p' <<<"$summary")
if [[ -z $summary ]]; then
  echo "!! lint: ansible-lint printed no summary (exit code $rc)"
  ((rc != 0)) || rc=1
fi
if ((rc != 0)); then echo "!! lint FAILED"; fi
echo "lint: ${files:-0} files checked, ${failures:-?} failure(s), ${warnings:-?} warning(s)"
exit "$rc"
