#!/usr/bin/env bash
# The execution environment of cni.node (docs/fleet.md, "AWX / AAP"):
#
#   bash hack/ee.sh venv     the tools venv (ansible-builder, ansible-runner
#                            from hack/ee/tools.txt, pinned) under
#                            .cache/venvs/ee-KEY; prints its path
#   bash hack/ee.sh create   the collection tarball, the wheelhouse, the lab
#                            definition (build/ee/execution-environment.yml,
#                            from docs/execution-environment.yml by
#                            hack/ee/lab_definition.py) and
#                            `ansible-builder create` of it (build/ee/context)
#   bash hack/ee.sh check    create, then tests/ee (the generated context,
#                            `ansible-builder introspect` of the collection):
#                            the suite `ee` of hack/test.sh, a few seconds
#   bash hack/ee.sh build    create, then `ansible-builder build` with docker:
#                            image cni-node-ee:latest (make ee)
#   bash hack/ee.sh test     build, then `molecule test -s ee`: ansible-runner
#                            inside the image runs cni.node.site and
#                            cni.node.drift against two lab nodes (make ee-test)
#
# No registry is involved. The base image is the lab's node image
# (cni-node-lab:latest, debootstrap from the Debian mirror of this machine's
# apt sources: make lab); apt-get inside the build uses the sources that
# image carries. pip inside the build uses no index: the wheels it installs
# (hack/ee/wheelhouse.txt, pinned) are downloaded here on the host with the
# host's own pip configuration into .cache/ee/wheels-KEY and copied into the
# build context.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
PY=/usr/bin/python3                 # as hack/matrix.sh: Debian's python3
CACHE=$ROOT/.cache
OUT=$ROOT/build/ee
IMAGE=${EE_IMAGE:-cni-node-ee:latest}
BASE_IMAGE=${EE_BASE_IMAGE:-cni-node-lab:latest}
RECIPE="venv; pip install --no-deps -r; pip check"

die() { echo "!! ee.sh: $*" >&2; exit 1; }

# The tools venv, built once per content of hack/ee/tools.txt.
ee_venv() {
  local key dir old
  key=$( { cat hack/ee/tools.txt; "$PY" -VV; echo "$RECIPE"; } | sha256sum | cut -c1-16)
  dir=$CACHE/venvs/ee-$key
  mkdir -p "$CACHE/venvs"
  exec 8>"$CACHE/venvs/.ee.lock"
  flock 8
  if [[ ! -f $dir/.complete ]]; then
    for old in "$CACHE/venvs/ee-"*; do [[ -e $old ]] && rm -rf "$old"; done
    echo ">> building $dir from hack/ee/tools.txt" >&2
    "$PY" -m venv "$dir" >&2
    "$dir/bin/pip" install -q --disable-pip-version-check --no-deps -r hack/ee/tools.txt >&2
    "$dir/bin/pip" check >&2
    touch "$dir/.complete"
  fi
  exec 8>&-
  echo "$dir"
}

# The wheels of hack/ee/wheelhouse.txt, for the image's Python (Debian
# bookworm's 3.11 on this architecture, the same as $PY's).
wheelhouse() {
  local venv=$1 key dir
  key=$( { cat hack/ee/wheelhouse.txt; "$PY" -VV; uname -m; } | sha256sum | cut -c1-16)
  dir=$CACHE/ee/wheels-$key
  if [[ ! -f $dir/.complete ]]; then
    rm -rf "$CACHE/ee/wheels-"*
    mkdir -p "$dir"
    echo ">> downloading the wheels of hack/ee/wheelhouse.txt into $dir" >&2
    "$venv/bin/pip" download -q --disable-pip-version-check --no-deps --only-binary=:all: \
      -d "$dir" -r hack/ee/wheelhouse.txt >&2
    touch "$dir/.complete"
  fi
  echo "$dir"
}

create() {
  local venv=$1 wheels tarball
  wheels=$(wheelhouse "$venv")
  rm -rf "$OUT"
  mkdir -p "$OUT"
  "$ROOT/.venv/bin/ansible-galaxy" collection build --force --output-path "$OUT" >/dev/null \
    || die "ansible-galaxy collection build failed"
  tarball=$(ls "$OUT"/cni-node-*.tar.gz)
  "$ROOT/.venv/bin/python" hack/ee/lab_definition.py docs/execution-environment.yml "$OUT" \
    "$tarball" "$wheels" "$BASE_IMAGE"
  "$venv/bin/ansible-builder" create -f "$OUT/execution-environment.yml" -c "$OUT/context" \
    --output-filename Dockerfile >/dev/null || die "ansible-builder create failed"
  echo ">> build context: $OUT/context (Dockerfile, _build)" >&2
}

cmd=${1:-}
case $cmd in
  venv)
    ee_venv
    ;;
  create)
    create "$(ee_venv)"
    ;;
  check)
    venv=$(ee_venv)
    create "$venv"
    EE_VENV=$venv EE_OUT=$OUT bash hack/run-pytest.sh ee "$ROOT/.venv/bin/python" tests/ee
    ;;
  build)
    venv=$(ee_venv)
    docker image inspect "$BASE_IMAGE" >/dev/null 2>&1 || die "base image $BASE_IMAGE is missing (make lab)"
    create "$venv"
    start=$SECONDS
    # The classic builder, as hack/lab-image.sh (no buildx here): it never
    # pulls a base image that exists locally.
    DOCKER_BUILDKIT=0 "$venv/bin/ansible-builder" build -f "$OUT/execution-environment.yml" \
      -c "$OUT/context" --output-filename Dockerfile --container-runtime docker -t "$IMAGE" -v 2 \
      > "$OUT/build.log" 2>&1 || { tail -n 40 "$OUT/build.log" >&2; die "ansible-builder build failed (log: $OUT/build.log)"; }
    echo ">> $IMAGE built in $((SECONDS - start)) s (log: $OUT/build.log)"
    ;;
  test)
    bash "$0" build
    # shellcheck source=hack/lab-env.sh
    source hack/lab-env.sh
    EE_IMAGE=$IMAGE bash hack/molecule.sh ee
    ;;
  *)
    sed -n '2,/^set /p' "$0" | sed '$d' | sed 's/^# \{0,1\}//' >&2
    exit 2
    ;;
esac
