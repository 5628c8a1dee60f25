#!/usr/bin/env bash
# Lints what cargo does not: every shell script in the repository (with
# ShellCheck), the GitHub workflows and the policy-CI snippet of docs/ci.md
# (with actionlint, which also runs ShellCheck on their `run:` steps), and
# the relative links of every Markdown file (scripts/md-links.py).
set -euo pipefail
cd "$(dirname "$0")/.."

for tool in shellcheck actionlint python3; do
  command -v "$tool" >/dev/null || { echo "SETUP FAILED: $tool not found (scripts/setup.sh installs it)" >&2; exit 1; }
done

# Shell scripts: *.sh, and any file whose first line is a sh or bash shebang
# (.ci/run), tracked or new.
scripts=()
while IFS= read -r f; do
  [ -f "$f" ] || continue
  if [[ "$f" == *.sh ]] || head -n 1 "$f" | grep -qE '^#!.*[/ ](ba)?sh( |$)'; then
    scripts+=("$f")
  fi
done < <(git ls-files --cached --others --exclude-standard)
echo "shellcheck: ${#scripts[@]} scripts"
shellcheck --external-sources "${scripts[@]}"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/.github/workflows"
snippet="$tmp/.github/workflows/policies.yml"
awk '/<!-- policy-ci:/ { marked = 1; next }
     marked && /^```yaml/ { inside = 1; next }
     inside && /^```/ { exit }
     inside' docs/ci.md > "$snippet"
[ -s "$snippet" ] || { echo "lint: the policy-CI snippet of docs/ci.md (after <!-- policy-ci: -->) was not found" >&2; exit 1; }
echo "actionlint: .github/workflows and the policy-CI snippet of docs/ci.md"
actionlint -color=false .github/workflows/*.yml "$snippet"

python3 scripts/md-links.py
