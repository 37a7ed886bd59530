#!/usr/bin/env bash
# The collection as users get it: build the tarball, install it offline into
# an empty collections path, and use it from there (and only from there).
#
# Checks (each counts once in the closing "build: N passed, M failed" line):
#   tarball      ansible-galaxy collection build succeeds; the tarball holds
#                the collection's metadata and modules, only files git sees,
#                none of the development trees (.venv, build, hack, ...),
#                and stays small
#   install      ansible-galaxy collection install --offline of the tarball
#   doc:MODULE   ansible-doc renders every module of the installed
#                collection, loaded from the install path
#   sysctl-doc   ansible-doc cni.node.cni_sysctl documents the options of
#                the public interface
#   sysctl-check ad-hoc `ansible localhost -m cni.node.cni_sysctl --check`
#                with net.ipv4.ip_forward at its current value, persist=false:
#                succeeds, changed=false, no drift
#   playbook:X   ansible-playbook --syntax-check cni.node.X for every playbook
#                the collection ships
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
ROOT=$PWD
export PATH="$ROOT/.venv/bin:$PATH"
export ANSIBLE_FORCE_COLOR=0 ANSIBLE_NOCOLOR=1

# Largest tarball accepted, in bytes: a stray virtualenv or build output in
# it would blow far past this.
MAX_TARBALL_BYTES=$((2 * 1024 * 1024))

tmp=$(mktemp -d -t cni-node-build.XXXXXX)
trap 'rm -rf "$tmp"' EXIT INT TERM

passed=0 failed=0
pass() { echo "ok    $1"; passed=$((passed + 1)); }
fail() { echo "FAIL  $1${2:+: $2}"; failed=$((failed + 1)); }
finish() {
  echo "build: $passed passed, $failed failed"
  ((failed == 0 && passed > 0))
  exit $?
}

# --- tarball -------------------------------------------------------------
if ! ansible-galaxy collection build --output-path "$tmp/dist" . >"$tmp/build.log" 2>&1; then
  cat "$tmp/build.log"
  fail tarball "ansible-galaxy collection build failed"
  finish
fi
tarball=$(ls "$tmp"/dist/cni-node-*.tar.gz)
git ls-files -z --cached --others --exclude-standard >"$tmp/git-files"
msg=
if msg=$(python3 - "$tarball" "$tmp/git-files" "$MAX_TARBALL_BYTES" 2>&1 <<'EOF'
import os, re, sys, tarfile
tarball, git_list, limit = sys.argv[1], sys.argv[2], int(sys.argv[3])
with open(git_list, 'rb') as f:
    git_files = set(f.read().decode().split('\0')) - {''}
with tarfile.open(tarball) as tf:
    members = tf.getmembers()
files = [m.name for m in members if not m.isdir()]
problems = []
for need in ('MANIFEST.json', 'FILES.json', 'meta/runtime.yml', 'LICENSE', 'README.md',
             'plugins/modules/cni_sysctl.py'):
    if need not in files:
        problems.append('missing ' + need)
# Every file but the two that ansible-galaxy generates comes from git's view.
stray = [f for f in files if f not in git_files and f not in ('MANIFEST.json', 'FILES.json')]
if stray:
    problems.append('not files git sees: ' + ' '.join(stray[:10]))
dev = re.compile(r'(^|/)(\.venv|\.git|build|hack|molecule|bench|tests/output|__pycache__|'
                 r'\.pytest_cache|\.ansible)(/|$)|\.pyc$|^\.ansible-lint$|^Makefile$')
bad = [m.name for m in members if dev.search(m.name)]
if bad:
    problems.append('development files: ' + ' '.join(bad[:10]))
size = os.path.getsize(tarball)
if size > limit:
    problems.append('%d bytes, more than %d' % (size, limit))
if problems:
    sys.exit('; '.join(problems))
print('%s: %d files, %d bytes' % (os.path.basename(tarball), len(files), size))
EOF
); then
  pass "tarball $msg"
else
  fail tarball "$msg"
fi

# --- install -------------------------------------------------------------
# From here on only the temporary path provides collections: not the repo
# (hack/test.sh points ANSIBLE_COLLECTIONS_PATH at it, and ansible-galaxy
# would then find cni.node "already installed"), not ~/.ansible/collections,
# not the `ansible` package's site-packages.
coll="$tmp/collections"
export ANSIBLE_COLLECTIONS_PATH="$coll" ANSIBLE_COLLECTIONS_SCAN_SYS_PATH=false
if ansible-galaxy collection install --offline -p "$coll" "$tarball" >"$tmp/install.log" 2>&1 \
   && [[ -f $coll/ansible_collections/cni/node/MANIFEST.json ]]; then
  pass "install --offline into $coll"
else
  cat "$tmp/install.log"
  fail install "ansible-galaxy collection install failed"
  finish
fi
installed="$coll/ansible_collections/cni/node"

# The working directory is outside the repo: no playbook-adjacent collection
# or ansible.cfg lookups.
cd "$tmp" || exit 1

# --- ansible-doc -----------------------------------------------------------
modules=()
for f in "$installed"/plugins/modules/*.py; do
  [[ -e $f ]] || continue
  m=$(basename "$f" .py)
  [[ $m == __init__ ]] || modules+=("$m")
done
((${#modules[@]})) || fail doc "the installed collection has no module"
for m in "${modules[@]}"; do
  if ansible-doc -t module "cni.node.$m" >"$tmp/doc-$m.txt" 2>"$tmp/doc-$m.err" \
     && grep -qF "cni.node.$m ($installed/plugins/modules/$m.py)" "$tmp/doc-$m.txt" \
     && grep -q 'OPTIONS' "$tmp/doc-$m.txt"; then
    pass "doc:$m"
  else
    cat "$tmp/doc-$m.err"
    fail "doc:$m" "ansible-doc did not render cni.node.$m from the installed collection"
  fi
done

msg=
if ansible-doc --json -t module cni.node.cni_sysctl >"$tmp/sysctl-doc.json" 2>"$tmp/sysctl-doc.err" \
   && msg=$(python3 - "$tmp/sysctl-doc.json" "$installed" 2>&1 <<'EOF'
import json, sys
doc = json.load(open(sys.argv[1]))['cni.node.cni_sysctl']['doc']
want = {'params', 'persist', 'sysctl_dir', 'file', 'exclusive', 'load_modules', 'netns', 'state'}
missing = sorted(want - set(doc.get('options', {})))
if missing:
    sys.exit('options not documented: %s' % ', '.join(missing))
if not doc['filename'].startswith(sys.argv[2] + '/'):
    sys.exit('loaded from %s' % doc['filename'])
print('%d options documented' % len(doc['options']))
EOF
   ); then
  pass "sysctl-doc: $msg"
else
  cat "$tmp/sysctl-doc.err"
  fail sysctl-doc "${msg:-ansible-doc --json failed}"
fi

# --- ad-hoc run in check mode -----------------------------------------------
key=net.ipv4.ip_forward
current=$(cat "/proc/sys/${key//.//}")
args=$(printf '{"params": {"%s": "%s"}, "persist": false}' "$key" "$current")
msg=
if ansible localhost -i localhost, -c local --check \
     -e 'ansible_python_interpreter={{ ansible_playbook_python }}' \
     -m cni.node.cni_sysctl -a "$args" >"$tmp/adhoc.out" 2>"$tmp/adhoc.err" \
   && msg=$(python3 - "$tmp/adhoc.out" "$key" "$current" 2>&1 <<'EOF'
import json, re, sys
# The ad-hoc (minimal) callback prints "localhost | STATUS => {result}".
with open(sys.argv[1]) as f:
    out = f.read()
m = re.search(r'^localhost \| (\S+) => ', out, re.M)
if not m:
    sys.exit('no result for localhost in the output')
r, _ = json.JSONDecoder().raw_decode(out[m.end():])
key, cur = sys.argv[2], sys.argv[3]
problems = []
if m.group(1) != 'SUCCESS':
    problems.append('status %s' % m.group(1))
if r.get('failed'):
    problems.append('failed: %s' % r.get('msg'))
if r.get('changed') is not False:
    problems.append('changed=%r' % r.get('changed'))
if r.get('drift') != []:
    problems.append('drift=%r' % r.get('drift'))
if (r.get('values') or {}).get(key) != cur:
    problems.append('values=%r' % r.get('values'))
if problems:
    sys.exit('; '.join(problems))
print('%s=%s, changed=false, no drift' % (key, cur))
EOF
   ); then
  pass "sysctl-check: $msg"
else
  cat "$tmp/adhoc.out" "$tmp/adhoc.err"
  fail sysctl-check "${msg:-the ad-hoc run failed}"
fi

# --- playbooks shipped as cni.node.NAME -------------------------------------
for f in "$installed"/playbooks/*.yml "$installed"/playbooks/*.yaml; do
  [[ -e $f ]] || continue
  name=$(basename "${f%.*}")
  if ansible-playbook -i localhost, --syntax-check "cni.node.$name" >"$tmp/pb-$name.log" 2>&1; then
    pass "playbook:$name"
  else
    cat "$tmp/pb-$name.log"
    fail "playbook:$name" "ansible-playbook --syntax-check cni.node.$name failed"
  fi
done

finish
