#!/usr/bin/env bash
# Print the path of a promtool binary, for the monitoring tests
# (tests/unit/test_monitoring.py): promtool check rules / check metrics /
# test rules on monitoring/ and on the drift report's textfile.
#
# promtool comes from Debian's prometheus package, but installing that
# package would start a Prometheus server (its postinst enables the unit), so
# the .deb is only downloaded with apt-get (which checks it against the
# signed archive's hashes) and unpacked with dpkg-deb into
# .cache/tools/prometheus/<version>/, keyed by the candidate version: a rerun
# with the same version reuses it (no download). PROMTOOL=/path/to/promtool
# skips all of this.
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ -n ${PROMTOOL:-} ]]; then
  echo "$PROMTOOL"
  exit 0
fi
version=$(apt-cache policy prometheus 2>/dev/null | awk '/Candidate:/ {print $2}')
if [[ -z $version || $version == "(none)" ]]; then
  echo "promtool: apt knows no prometheus package (run apt-get update, or set PROMTOOL)" >&2
  exit 1
fi
dir=$PWD/.cache/tools/prometheus/${version//:/%3a}
if [[ ! -x $dir/promtool ]]; then
  tmp=$(mktemp -d)
  chmod 0755 "$tmp"   # apt downloads as _apt
  trap 'rm -rf "$tmp"' EXIT
  (cd "$tmp" && apt-get download -q "prometheus=$version" >&2)
  dpkg-deb -x "$tmp"/prometheus_*.deb "$tmp/root"
  mkdir -p "$dir"
  install -m 0755 "$tmp/root/usr/bin/promtool" "$dir/promtool.new"
  mv "$dir/promtool.new" "$dir/promtool"
fi
echo "$dir/promtool"
