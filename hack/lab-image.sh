#!/usr/bin/env bash
# Build the lab node image cni-node-lab:<key> (and tag it :latest) locally:
# debootstrap a minimal Debian into a scratch directory under build/,
# `docker import` it and give it the image configuration of a node that boots
# systemd (one `docker build` step without context: STOPSIGNAL cannot be set
# by `docker import --change`). No registry is involved.
#
# The node boots /sbin/init (systemd) as PID 1, not privileged; the run flags
# it needs are in every molecule/*/molecule.yml (docs/development.md, "The
# lab"). The image carries the unit cni-lab-proc-sys-net.service, which makes
# /proc/sys/net writable before systemd-sysctl.service, and masks the units
# that cannot run in a container or have no business on a lab node.
#
# The Debian mirror is read at run time from this machine's apt sources (the
# first one that serves <suite> main), so no host name is written anywhere in
# the repository. The key is a hash of this script, the package list and the
# suite: when cni-node-lab:<key> exists already, nothing is done.
# Prints the image tag on the last line of stdout.
#
# LAB_IMAGE_NO_LATEST=1 builds (or finds) cni-node-lab:<key> only: :latest
# and the older keyed tags are left alone (to try a new recipe while a lab
# runs on :latest).
set -euo pipefail
self=$(readlink -f "$0")
cd "$(dirname "$self")/.."

SUITE=bookworm
IMAGE=cni-node-lab
# minbase is apt + the Priority: required set; this is what the lab needs on
# top: python3 for Ansible, iproute2 + pyroute2 (Debian's 0.7.x) for the
# netlink modules, mount for the /proc/sys unit (and prepare's "all" mode),
# the usual tools to look around a node, the CNI reference plugins (in
# /usr/lib/cni: the plugins role installs them from there, as on an offline
# node), and systemd as init (systemd-sysv: /sbin/init) with dbus.
# Wave 2 tools a node runs, installed here because lab nodes have no apt
# access at test time (the roles that need them install them only when they
# are missing): nftables (cni_policy), tcpdump and strace (cni.node.diagnose
# captures and traces), dnsmasq (a DHCP server for the dhcp profile's lab
# proof), git and python3-venv (ansible-pull nodes), iperf3 (diagnose perf).
PACKAGES=(python3 python3-pyroute2 iproute2 procps iptables iputils-ping mount containernetworking-plugins
          systemd systemd-sysv dbus
          nftables tcpdump strace dnsmasq-base git python3-venv iperf3)
# Units masked in the image: the timers that would run apt, e2scrub or a
# dpkg backup on a lab node in the middle of a test. No other unit needs it:
# udev is not installed (a Recommends of systemd; /sys is read-only in a
# container anyway), and what cannot run in a container skips itself on its
# conditions (console-getty: no /dev/console, fstrim: a container,
# e2scrub_reap: no CAP_SYS_RAWIO), so a node boots to "running".
MASKED=(apt-daily.timer apt-daily-upgrade.timer dpkg-db-backup.timer e2scrub_all.timer)

die() { echo "!! lab-image.sh: $*" >&2; exit 1; }

pkg_csv=$(IFS=,; echo "${PACKAGES[*]}")
key=$( { cat "$self"; echo "$pkg_csv"; echo "$SUITE"; } | sha256sum | cut -c1-16)
tag="$IMAGE:$key"
move_latest=1
[[ ${LAB_IMAGE_NO_LATEST:-} == 1 ]] && move_latest=0

docker info >/dev/null 2>&1 || die "docker does not answer (run hack/dockerd.sh first)"

up_to_date() {
  docker image inspect "$tag" >/dev/null 2>&1 || return 1
  if ((move_latest)); then docker tag "$tag" "$IMAGE:latest"; fi
  echo ">> $tag is up to date"
  echo "$tag"
}
up_to_date && exit 0

command -v debootstrap >/dev/null || die "debootstrap not found (apt-get install debootstrap; make deps does it)"
[[ $EUID -eq 0 ]] || die "debootstrap needs root"

# --- the Debian mirror, from the apt sources --------------------------------
# Prints "<uri> <keyring or ->" for the first deb source serving SUITE main:
# deb822 files (/etc/apt/sources.list.d/*.sources), then one-line files
# (/etc/apt/sources.list, /etc/apt/sources.list.d/*.list).
find_mirror() {
  python3 - "$SUITE" <<'EOF'
import glob, re, sys

suite = sys.argv[1]

def ok_uri(u):
    return re.match(r"^(https?|file)://", u) is not None

def deb822(path):
    with open(path, encoding="utf-8", errors="replace") as fh:
        text = fh.read()
    for stanza in re.split(r"\n\s*\n", text):
        fields, last = {}, None
        for line in stanza.splitlines():
            if not line.strip() or line.lstrip().startswith("#"):
                continue
            if line[0] in " \t" and last:
                fields[last] += "\n" + line.strip()
                continue
            k, _, v = line.partition(":")
            last = k.strip().lower()
            fields[last] = v.strip()
        if fields.get("enabled", "yes").lower() == "no":
            continue
        if "deb" not in fields.get("types", "").split():
            continue
        if suite not in fields.get("suites", "").split():
            continue
        if "main" not in fields.get("components", "").split():
            continue
        key = fields.get("signed-by", "")
        key = key if key.startswith("/") and "\n" not in key else "-"
        for uri in fields.get("uris", "").split():
            if ok_uri(uri):
                return uri, key
    return None

def one_line(path):
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line in fh:
            line = line.split("#", 1)[0].strip()
            if not line.startswith("deb "):
                continue
            opts = {}
            m = re.match(r"deb\s+\[([^\]]*)\]\s+(.*)", line)
            if m:
                for o in m.group(1).split():
                    k, _, v = o.partition("=")
                    opts[k] = v
                rest = m.group(2).split()
            else:
                rest = line.split()[1:]
            if len(rest) < 3:
                continue
            uri, dist, comps = rest[0], rest[1], rest[2:]
            if dist == suite and "main" in comps and ok_uri(uri):
                key = opts.get("signed-by", "")
                return uri, key if key.startswith("/") else "-"
    return None

files = sorted(glob.glob("/etc/apt/sources.list.d/*.sources"))
candidates = [(deb822, f) for f in files]
candidates += [(one_line, f) for f in ["/etc/apt/sources.list"] + sorted(glob.glob("/etc/apt/sources.list.d/*.list"))]
for parse, f in candidates:
    try:
        found = parse(f)
    except OSError:
        continue
    if found:
        print(*found)
        sys.exit(0)
sys.exit(1)
EOF
}

read -r mirror keyring < <(find_mirror) || true
[[ -n ${mirror:-} ]] || die "no apt source serves '$SUITE main' (looked in /etc/apt/sources.list and /etc/apt/sources.list.d/)"
keyring_opt=()
if [[ -n ${keyring:-} && $keyring != - && -r $keyring ]]; then
  keyring_opt=(--keyring="$keyring")
fi

# --- build ------------------------------------------------------------------
mkdir -p build
exec 9> build/lab-image.lock
flock 9
# Another run may have built it while this one waited for the lock.
up_to_date && exit 0

rootfs=$(mktemp -d "$PWD/build/lab-rootfs.XXXXXX")
log=build/lab-image.log
cleanup() {
  # debootstrap mounts proc/sys inside the target; never let rm walk into a
  # mount point, whatever state a failed run left behind.
  local m
  awk -v r="$rootfs" '$2 == r || index($2, r "/") == 1 {print $2}' /proc/self/mounts | sort -r \
    | while read -r m; do umount -l "$m" 2>/dev/null || true; done
  rm -rf --one-file-system "$rootfs"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

echo ">> debootstrap $SUITE (minbase + ${PACKAGES[*]}) from $mirror; log: $log"
start=$SECONDS
if ! debootstrap --variant=minbase --include="$pkg_csv" "${keyring_opt[@]}" \
      "$SUITE" "$rootfs" "$mirror" > "$log" 2>&1; then
  tail -n 30 "$log" >&2
  die "debootstrap failed (full log: $log)"
fi
echo ">> debootstrap took $((SECONDS - start)) s"

# Trim what a throwaway lab node never needs.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
       "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
       "$rootfs"/debootstrap
# Docker provides these at run time.
: > "$rootfs/etc/hostname"
rm -f "$rootfs/etc/resolv.conf"
# Every node generates its own machine ID at its first boot (an empty file:
# no first-boot presets) and keeps it across restarts; an ID baked into the
# image would be the same on every node (and so would every MAC address
# systemd derives from it).
: > "$rootfs/etc/machine-id"
rm -f "$rootfs/var/lib/dbus/machine-id"

# --- systemd as init ------------------------------------------------------
# Docker mounts /proc/sys read-only. net.* keys are per network namespace, so
# /proc/sys/net is made writable (a bind mount of it over itself, remounted
# read-write) at every boot, before systemd-sysctl.service, which skips
# itself while /proc/sys/net is read-only and otherwise applies
# /etc/sysctl.d. kernel.*, vm.*, fs.* stay read-only: they are global, a
# write from a node would change the host.
cat > "$rootfs/etc/systemd/system/cni-lab-proc-sys-net.service" <<'EOF'
[Unit]
Description=Make /proc/sys/net writable (cni.node lab node)
DefaultDependencies=no
Before=systemd-sysctl.service sysinit.target
ConditionPathIsReadWrite=!/proc/sys/net

[Service]
Type=oneshot
RemainAfterExit=yes
ExecStart=/usr/bin/mount --bind /proc/sys/net /proc/sys/net
ExecStart=/usr/bin/mount -o remount,bind,rw /proc/sys/net

[Install]
WantedBy=sysinit.target
EOF
chroot "$rootfs" systemctl enable cni-lab-proc-sys-net.service >> "$log" 2>&1 \
  || die "systemctl enable cni-lab-proc-sys-net.service failed (log: $log)"
chroot "$rootfs" systemctl mask "${MASKED[@]}" >> "$log" 2>&1 \
  || die "systemctl mask failed (log: $log)"

echo ">> docker import $tag"
tar --numeric-owner -C "$rootfs" -c . \
  | docker import \
      --message "cni.node lab node: debootstrap $SUITE minbase + $pkg_csv" \
      - "$tag-rootfs" >/dev/null
# STOPSIGNAL: systemd halts on SIGRTMIN+3 (SIGTERM makes it re-execute).
# container=docker: how systemd knows it runs in a container.
# The classic builder: a Dockerfile on stdin, no context, nothing pulled.
if ! DOCKER_BUILDKIT=0 docker build --quiet --tag "$tag" - >> "$log" 2>&1 <<EOF
FROM $tag-rootfs
ENV container=docker
STOPSIGNAL SIGRTMIN+3
CMD ["/sbin/init"]
LABEL org.cni-node.lab-key=$key org.cni-node.suite=$SUITE
EOF
then
  docker rmi "$tag-rootfs" >/dev/null 2>&1 || true
  tail -n 10 "$log" >&2
  die "docker build of $tag failed (full log: $log)"
fi
docker rmi "$tag-rootfs" >/dev/null

if ((move_latest)); then
  docker tag "$tag" "$IMAGE:latest"
  # Keep only the current keyed image: remove older cni-node-lab:<key> tags.
  docker image ls --format '{{.Repository}}:{{.Tag}}' "$IMAGE" \
    | grep -v -x -e "$tag" -e "$IMAGE:latest" \
    | xargs -r docker rmi >/dev/null 2>&1 || true
fi

echo ">> built $tag ($(docker image inspect -f '{{.Size}}' "$tag" | numfmt --to=iec))"
echo "$tag"
