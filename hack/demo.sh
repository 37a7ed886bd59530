#!/usr/bin/env bash
# The demo (`make demo`, after dockerd and the lab image are ready): bring up
# the 3-node lab (Molecule's overlay scenario: create + prepare; the nodes
# boot systemd as PID 1, and prepare waits until they are up), run
# cni.node.site with the overlay profile (pod subnets, kernel parameters,
# plugins, VXLAN peers, bridge, network configuration) and cni.node.verify
# (a test namespace per node attached with the real plugins, pinging every
# other node's), then print a summary: nodes, subnets, VXLAN peers, the
# connectivity matrix and the time taken.
#
# The lab and the test namespaces are left up to look around; a rerun reuses
# them and changes nothing. `make demo-clean` removes the lab.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=hack/lab-env.sh
source hack/lab-env.sh

SCENARIO=overlay
NODES=(ov-node1 ov-node2 ov-node3)
NS=cni-node-verify
start=$SECONDS

step() { printf '\n==================== %s ====================\n' "$*"; }

step "lab: three nodes (created when missing)"
molecule create -s "$SCENARIO" --no-command-borders >/dev/null
# Molecule's ephemeral directory of the scenario (inventory, ansible.cfg).
eph=$(find "$HOME/.ansible/tmp" -maxdepth 1 -name "molecule.*.$SCENARIO" -printf '%T@ %p\n' 2>/dev/null \
      | sort -rn | head -1 | cut -d' ' -f2-)
[[ -n "$eph" && -f "$eph/inventory/ansible_inventory.yml" ]] || lab_die "no Molecule inventory for $SCENARIO"
export ANSIBLE_CONFIG="$eph/ansible.cfg"
inventory="$eph/inventory/ansible_inventory.yml"
docker ps --filter label=owner=molecule --format '  {{.Names}}\t{{.Status}}' | grep ov-node
for n in "${NODES[@]}"; do
  printf '  %-10s PID 1 %s, system %s\n' "$n" "$(docker exec "$n" cat /proc/1/comm)" \
    "$(docker exec "$n" systemctl is-system-running || true)"
done

step "site: cni.node.site with the overlay profile"
t=$SECONDS
ansible-playbook -i "$inventory" cni.node.site | tail -n 6
site_s=$((SECONDS - t))

step "verify: cni.node.verify (real plugins through cni_attachment), test namespaces kept"
t=$SECONDS
ansible-playbook -i "$inventory" cni.node.verify -e verify_keep=true | tail -n 6
verify_s=$((SECONDS - t))

step "summary"
python3 - "$NS" "${NODES[@]}" <<'EOF'
import json, subprocess, sys

ns, nodes = sys.argv[1], sys.argv[2:]

def on(node, *argv):
    return subprocess.run(["docker", "exec", node] + list(argv), capture_output=True, text=True)

info = {}
for n in nodes:
    fact = json.loads(on(n, "cat", "/etc/ansible/facts.d/cni_ipam_pods.fact").stdout or "{}")
    underlay = json.loads(on(n, "ip", "-j", "-4", "addr", "show", "dev", "eth0").stdout)[0]["addr_info"][0]["local"]
    routes = json.loads(on(n, "ip", "-j", "route", "show", "proto", "152").stdout or "[]")
    vx = json.loads(on(n, "ip", "-j", "-d", "link", "show", "dev", "vxlan0").stdout)[0]
    pod = json.loads(on(n, "ip", "-n", ns, "-j", "-4", "addr", "show", "dev", "eth0").stdout or "[{}]")
    info[n] = dict(subnet=", ".join(fact.get("subnets", [])), underlay=underlay, mtu=vx["mtu"], mac=vx["address"],
                   peers=["%s via %s" % (r["dst"], r["gateway"]) for r in routes],
                   pod=(pod[0].get("addr_info") or [{}])[0].get("local", "-"))

print("%-10s %-14s %-16s %-18s %-6s %s" % ("node", "underlay", "pod subnet", "VTEP MAC", "MTU", "test namespace"))
for n in nodes:
    i = info[n]
    print("%-10s %-14s %-16s %-18s %-6s %s" % (n, i["underlay"], i["subnet"], i["mac"], i["mtu"], i["pod"]))
print("\nVXLAN peers (routes of protocol 152 on vxlan0):")
for n in nodes:
    print("  %-10s %s" % (n, "; ".join(info[n]["peers"]) or "(none)"))
print("\nConnectivity (ping from the test namespace of the row's node to the column's):")
print("  %-10s %s" % ("", " ".join("%-10s" % n for n in nodes)))
bad = 0
for a in nodes:
    cells = []
    for b in nodes:
        ok = on(a, "ip", "netns", "exec", ns, "ping", "-c", "1", "-W", "2", info[b]["pod"]).returncode == 0
        bad += not ok
        cells.append("%-10s" % ("ok" if ok else "FAIL"))
    print("  %-10s %s" % (a, " ".join(cells)))
sys.exit(1 if bad else 0)
EOF

echo
echo "Time: site ${site_s} s, verify ${verify_s} s, whole demo $((SECONDS - start)) s."
cat <<EOF

The lab is still running. Look around:
  docker exec -it ov-node1 bash
  docker exec ov-node1 systemctl status                 # systemd is PID 1
  docker exec ov-node1 ip route show proto 152          # the VXLAN peers
  docker exec ov-node1 bridge fdb show dev vxlan0
  docker exec ov-node1 ip netns exec $NS ping -c 2 <a test namespace address above>
Rerun:   make demo        (reuses the lab; changes nothing)
Remove:  make demo-clean
EOF
