#!/usr/bin/env bash
# Run the Molecule lab test: `molecule test` on the default scenario (or the
# scenarios named as arguments), from the repository root, with the venv and
# this collection. Nothing is installed from Galaxy or pulled from a registry:
# the lab image is built locally (make lab = hack/dockerd.sh +
# hack/lab-image.sh) and the scenario has no dependency step.
#
# Each scenario is a `molecule test` of its own, timed; every scenario runs
# even when an earlier one failed, and the run fails when any did. The times
# and verdicts go to stdout at the end and, when TEST_RESULTS_DIR is set (by
# hack/test.sh), to $TEST_RESULTS_DIR/molecule.summary for its summary.
#
# The containers are destroyed at the end whatever happens (--destroy=always,
# and a destroy on interrupt). The lab only sets per-network-namespace (net.*)
# keys; as a guard, the host's values of those keys are compared before and
# after, and a difference fails the run.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
# shellcheck source=hack/lab-env.sh
source hack/lab-env.sh

scenarios=("$@")
((${#scenarios[@]})) || scenarios=(default sysctl overlay drift reboot policy dhcp xdp diagnose)

# The host's values of the keys the lab sets (from the scenarios' lab_vars.yml).
host_values() {
  python - "${scenarios[@]}" <<'EOF'
import os, sys, yaml
keys = set()
for s in sys.argv[1:]:
    p = os.path.join("molecule", s, "lab_vars.yml")
    if os.path.exists(p):
        with open(p) as fh:
            keys.update((yaml.safe_load(fh) or {}).get("cni_lab_sysctl_params", {}))
for k in sorted(keys):
    try:
        with open("/proc/sys/" + k.replace(".", "/")) as fh:
            print(k, "=", " ".join(fh.read().split()))
    except OSError as exc:
        print(k, "unreadable:", exc.strerror)
EOF
}

# shellcheck disable=SC2317,SC2329  # called from the trap below
destroy() {
  local s
  for s in "${scenarios[@]}"; do
    molecule destroy -s "$s" --no-command-borders || true
  done
}
trap 'echo "!! interrupted: destroying the lab"; destroy; exit 130' INT TERM

before=$(host_values)

rc=0
passed=0
lines=()
start=$SECONDS
for s in "${scenarios[@]}"; do
  t=$SECONDS
  # One run per scenario at a time on this machine (its containers and
  # network have fixed names): wait for another checkout's run of it.
  flock "/tmp/cni-node-molecule-$s.lock" molecule test -s "$s" --destroy=always --no-command-borders
  src=$?
  verdict=passed
  if ((src)); then verdict="FAILED (rc=$src)"; rc=1; else passed=$((passed + 1)); fi
  lines+=("$(printf '%-8s %s (%d s)' "$s" "$verdict" $((SECONDS - t)))")
  echo ">> molecule test -s $s: $verdict in $((SECONDS - t)) s"
done
echo ">> molecule test: rc=$rc in $((SECONDS - start)) s"
printf '   %s\n' "${lines[@]}"
if [[ -n ${TEST_RESULTS_DIR:-} ]]; then
  mkdir -p "$TEST_RESULTS_DIR"
  { echo "${#scenarios[@]} scenarios: $passed passed, $((${#scenarios[@]} - passed)) failed"
    printf '  %s\n' "${lines[@]}"; } >"$TEST_RESULTS_DIR/molecule.summary"
fi

after=$(host_values)
if [[ "$before" != "$after" ]]; then
  echo "!! molecule.sh: the lab changed the HOST's kernel parameters:" >&2
  diff <(echo "$before") <(echo "$after") >&2
  rc=1
fi

# A lab container left behind (molecule's destroy failed) is an error too.
names=$(python - "${scenarios[@]}" <<'EOF2'
import os, sys, yaml
for s in sys.argv[1:]:
    with open(os.path.join("molecule", s, "molecule.yml")) as fh:
        for p in (yaml.safe_load(fh) or {}).get("platforms", []):
            print(p["name"])
EOF2
)
left=$(docker ps -a --filter label=owner=molecule --format '{{.Names}}' | grep -x -F "$names" | tr '\n' ' ' || true)
if [[ -n $left ]]; then
  echo "!! molecule.sh: lab containers still exist after the run: $left" >&2
  rc=1
fi
exit $rc
