#!/usr/bin/env bash
# Make sure a Docker daemon answers, starting Debian's dockerd when none does.
#
# CI machines start with nothing running and without systemd as PID 1, so the
# daemon is started in the background with nohup, in its own session (log:
# $DOCKERD_LOG). Safe to
# rerun: when `docker info` already works, nothing happens; when a dockerd is
# already starting, this waits for it instead of starting a second one.
# dockerd runs with its defaults: this script never touches docker0 or any
# host interface or route itself.
set -euo pipefail

DOCKERD_LOG=${DOCKERD_LOG:-/var/log/cni-node-dockerd.log}
DOCKERD_PIDFILE=${DOCKERD_PIDFILE:-/var/run/docker.pid}
DOCKERD_TIMEOUT=${DOCKERD_TIMEOUT:-60}

die() { echo "!! dockerd.sh: $*" >&2; exit 1; }

docker_up() { docker info >/dev/null 2>&1; }

command -v docker  >/dev/null || die "docker CLI not found (apt-get install docker.io; make deps does it)"
command -v dockerd >/dev/null || die "dockerd not found (apt-get install docker.io; make deps does it)"

if docker_up; then
  echo ">> dockerd is up"
  exit 0
fi

# The dockerd named in the pid file, when it is alive.
pidfile_dockerd() {
  local p
  [[ -s $DOCKERD_PIDFILE ]] || return 1
  p=$(<"$DOCKERD_PIDFILE")
  [[ $p =~ ^[0-9]+$ ]] && kill -0 "$p" 2>/dev/null \
    && [[ "$(cat "/proc/$p/comm" 2>/dev/null)" == dockerd ]] && echo "$p"
}

# A dockerd that is still starting holds its pid file: wait for it instead of
# starting a second daemon that would fail on the same pid file.
pid=$(pidfile_dockerd || true)

if [[ -n $pid ]]; then
  echo ">> dockerd (pid $pid) is running but not answering yet; waiting"
else
  [[ $EUID -eq 0 ]] || die "dockerd is not running and starting it needs root"
  mkdir -p "$(dirname "$DOCKERD_LOG")"
  echo ">> starting dockerd (log: $DOCKERD_LOG)"
  {
    echo
    echo "=== $(date -Is) started by $0 ==="
  } >> "$DOCKERD_LOG"
  # No daemon options on purpose: with its defaults dockerd keeps (or makes)
  # docker0 as it is. (Beware: --bridge=none makes dockerd DELETE docker0.)
  # setsid: its own session, so the daemon outlives this shell's process
  # group (the demo leaves the lab running); in a script (no job control)
  # setsid does not fork, so $! is dockerd itself.
  setsid nohup dockerd --pidfile "$DOCKERD_PIDFILE" >> "$DOCKERD_LOG" 2>&1 < /dev/null &
  pid=$!
  disown "$pid" 2>/dev/null || true
fi

deadline=$((SECONDS + DOCKERD_TIMEOUT))
until docker_up; do
  if ! kill -0 "$pid" 2>/dev/null; then
    # Under job control setsid forks and $! is gone at once: the daemon is
    # then the one that writes the pid file.
    sleep 1
    if ! p=$(pidfile_dockerd); then
      echo "!! dockerd.sh: dockerd exited; last lines of $DOCKERD_LOG:" >&2
      tail -n 25 "$DOCKERD_LOG" >&2 || true
      exit 1
    fi
    pid=$p
  fi
  if ((SECONDS >= deadline)); then
    echo "!! dockerd.sh: dockerd (pid $pid) did not answer within ${DOCKERD_TIMEOUT} s; last lines of $DOCKERD_LOG:" >&2
    tail -n 25 "$DOCKERD_LOG" >&2 || true
    exit 1
  fi
  sleep 0.5
done
echo ">> dockerd is up (pid $pid, ready after $((DOCKERD_TIMEOUT - (deadline - SECONDS))) s)"
