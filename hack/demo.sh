#!/usr/bin/env bash
# The demo (`make demo`, after dockerd and the lab image are ready): bring up
# the 2-node lab (Molecule's default scenario: create + prepare), apply the
# kernel-parameter profile to every node with cni.node.cni_sysctl (converge),
# show that a second run changes nothing (idempotence), check the nodes
# (verify), and print per node what the module found and set.
#
# Every run starts from a fresh lab, so the drift it shows is always the
# drift of a new node. The lab is left running; the last lines say how to
# look at it and how to tear it down.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lab-env.sh
source hack/lab-env.sh

SCENARIO=default
report_dir="$PWD/build/demo"

step() { printf '\n==================== %s ====================\n' "$*"; }

mol() { molecule "$1" -s "$SCENARIO" --no-command-borders "${@:2}"; }

step "lab: fresh nodes (destroy, create, prepare)"
mol destroy
mol create

step "converge: cni.node.cni_sysctl on every node"
rm -rf "$report_dir"
mkdir -p "$report_dir"
mol converge -- -e "cni_lab_report_dir=$report_dir"

step "idempotence: a second run must change nothing"
mol idempotence

step "verify: read the values back inside the nodes"
mol verify

step "summary: what cni_sysctl found and set, per node"
python - "$report_dir" <<'EOF'
import glob, json, os, sys

def show(v):
    if v is None:
        return "(absent)"
    v = str(v)
    if "\n" in v:
        return "(%d lines)" % len(v.splitlines())
    return v

for path in sorted(glob.glob(os.path.join(sys.argv[1], "*.json"))):
    node = os.path.basename(path)[:-5]
    with open(path) as fh:
        r = json.load(fh)
    runtime = [d for d in r["drift"] if d["path"].startswith("sysctl/")]
    persisted = [d for d in r["drift"] if not d["path"].startswith("sysctl/")]
    print("%s: %s" % (node, "changed" if r["changed"] else "no drift"))
    print("  runtime values changed (%d of %d keys):" % (len(runtime), len(r["params"])))
    for d in runtime:
        print("    %-42s %s -> %s" % (d["path"][len("sysctl/"):], show(d["before"]), show(d["after"])))
    if not runtime:
        print("    (none: every key already had its value)")
    print("  persisted in %s (%d entries changed):" % (r["file"], len(persisted)))
    for d in persisted:
        print("    %-42s %s -> %s" % (d["path"], show(d["before"]), show(d["after"])))
    print("  desired values, normalised:")
    for k in sorted(r["params"]):
        print("    %-42s %s" % (k, r["params"][k]))
    print()
EOF

echo "The host is untouched: net.* keys are per network namespace, each node has its own."
echo "Host: net.core.somaxconn=$(cat /proc/sys/net/core/somaxconn)" \
     "net.ipv6.conf.all.forwarding=$(cat /proc/sys/net/ipv6/conf/all/forwarding)"
echo
echo "The lab is still running:"
docker ps --filter label=owner=molecule --format '{{.Names}}\t{{.Image}}\t{{.Status}}' | sed 's/^/  /'
cat <<EOF

Look around:   docker exec -it node1 bash
               docker exec node2 cat /etc/sysctl.d/90-cni-node.conf
Tear it down:  cd $PWD && PATH=$PWD/.venv/bin:\$PATH molecule destroy -s $SCENARIO
EOF
