#!/usr/bin/env bash
# One pytest suite, counted:
#   bash hack/run-pytest.sh NAME PYTHON PYTEST-ARGUMENTS...
# runs PYTHON -m pytest -p no:cacheprovider -ra (every skip reason printed)
# with a JUnit XML report at $TEST_RESULTS_DIR/NAME.xml (build/test-results
# by default), prints "NAME: P passed, F failed, S skipped" and writes that
# count to $TEST_RESULTS_DIR/NAME.summary (hack/test.sh shows it in its
# summary).
#
# Fails when pytest fails, when it ran no test (pytest's exit code 5), and
# when every test it collected was skipped (an integration suite run without
# root): a suite that proved nothing has not passed.
set -uo pipefail
(($# >= 2)) || { echo "usage: $0 NAME PYTHON PYTEST-ARGUMENTS..." >&2; exit 2; }
name=$1 python=$2
shift 2
results=${TEST_RESULTS_DIR:-build/test-results}
mkdir -p "$results" || exit 1
xml=$results/$name.xml
summary=$results/$name.summary
rm -f "$xml" "$summary"

"$python" -m pytest -p no:cacheprovider -ra --junitxml="$xml" "$@"
rc=$?

# tests, failed (failures and errors), skipped, from every <testsuite>.
read -r total failed skipped < <("$python" - "$xml" <<'EOF' 2>/dev/null
import sys
import xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == 'testsuite' else root.iter('testsuite')
n = {'tests': 0, 'failures': 0, 'errors': 0, 'skipped': 0}
for s in suites:
    for k in n:
        n[k] += int(s.get(k, 0))
print(n['tests'], n['failures'] + n['errors'], n['skipped'])
EOF
)
if [[ -z ${total:-} ]]; then
  counts="no test report"
  ((rc != 0)) || rc=1
else
  counts="$((total - failed - skipped)) passed, $failed failed, $skipped skipped"
fi
verdict=
if ((rc == 5)); then
  verdict=": no test collected"
elif [[ -n ${total:-} ]] && ((total > 0 && skipped == total)); then
  verdict=": every test was skipped"
  ((rc != 0)) || rc=1
fi
echo "$counts$verdict" >"$summary"
echo "$name: $counts$verdict"
((rc == 0)) || echo "!! $name FAILED$verdict"
exit "$rc"
