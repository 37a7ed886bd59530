#!/usr/bin/env bash
# Put a stand-in pip bootstrap script where ansible-test looks for its cached
# copy, so that `ansible-test sanity --venv` works on machines that cannot
# reach the host ansible-test downloads the real one from.
#
# ansible-test (see ansible_test/_util/target/setup/requirements.py) creates
# each of its virtual environments with `python -m venv --without-pip` and
# runs ~/.ansible/test/cache/get_pip_<pip version, dots as _>.py inside it
# with arguments such as `--disable-pip-version-check pip==24.2
# --no-setuptools --no-wheel`, downloading the script first when it is not
# cached. It runs pip with a reduced environment (PIP_CERT and friends are
# not passed on), so the script below names the system CA bundle itself.
#
# The stand-in installs the pip that ships with Python (stdlib ensurepip),
# then runs that pip with the same arguments (less the get-pip-only options)
# to install the exact pip version ansible-test asked for. Asked for
# --no-setuptools, it removes the setuptools that ensurepip brings along on
# Python < 3.12, so the environment matches what the real script makes.
#
# Idempotent: an existing real get-pip script is left alone; a stand-in
# written by an older version of this script is replaced.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=${PYTHON:-.venv/bin/python}
CA_BUNDLE=${CA_BUNDLE:-/etc/ssl/certs/ca-certificates.crt}
MARKER='cni.node get-pip stand-in'

# The pip version ansible-test pins, read from the installed ansible-test so
# that an upgrade of ansible-core cannot leave a stand-in under a stale name.
pip_version=$("$PY" - <<'EOF'
import os, re, sys
import ansible_test
src = os.path.join(os.path.dirname(ansible_test.__file__), '_internal', 'python_requirements.py')
with open(src, encoding='utf-8') as f:
    m = re.search(r"default_packages\s*=\s*dict\(\s*pip='([0-9][0-9.]*)'", f.read())
if not m:
    sys.exit('cannot find the pip version ansible-test uses in ' + src)
print(m.group(1))
EOF
)

cache_dir="$HOME/.ansible/test/cache"
target="$cache_dir/get_pip_${pip_version//./_}.py"

content=$(cat <<EOF
# ${MARKER} (written by hack/get-pip-standin.sh) for pip ${pip_version}.
# ansible-test runs this file as __main__ with the venv's python and the
# arguments it would pass to the real get-pip script.
import subprocess
import sys

CA_BUNDLE = '${CA_BUNDLE}'
GET_PIP_ONLY = ('--no-setuptools', '--no-wheel')


def run(*args):
    cmd = [sys.executable] + list(args)
    rc = subprocess.call(cmd)
    if rc:
        sys.stderr.write('get-pip stand-in: %s exited %d\n' % (' '.join(cmd), rc))
        sys.exit(rc)


def main():
    args = [a for a in sys.argv[1:] if a not in GET_PIP_ONLY]
    run('-m', 'ensurepip', '--default-pip')
    run('-m', 'pip', 'install', '--cert', CA_BUNDLE, *args)
    if '--no-setuptools' in sys.argv[1:]:
        # ensurepip installs setuptools too on Python < 3.12
        run('-m', 'pip', 'uninstall', '--yes', '--quiet', 'setuptools')


main()
EOF
)

if [[ -f $target ]]; then
  if ! grep -q "$MARKER" "$target"; then
    echo ">> pip bootstrap script present (not ours), keeping it: $target"
    exit 0
  fi
  if [[ "$(cat "$target")" == "$content" ]]; then
    exit 0
  fi
fi

mkdir -p "$cache_dir"
tmp=$(mktemp "$target.XXXXXX")
printf '%s\n' "$content" > "$tmp"
mv -f "$tmp" "$target"
echo ">> wrote pip ${pip_version} bootstrap stand-in: $target"
