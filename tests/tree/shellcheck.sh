#!/usr/bin/env bash
# Runs shellcheck over every shell script of the tree: the *.sh and *.bash files, and the files whose
# first line starts them with bash or sh (launch/setup, .ci/run, ...), outside .git, build directories
# and the fuzz corpus. Settings come from the tree's .shellcheckrc. Prints each finding and exits 1 when
# there is any; exits 77 (skipped) when shellcheck is not installed (launch/setup --test-tools installs it).
set -euo pipefail
root=${MT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v shellcheck >/dev/null 2>&1; then
  echo "shellcheck.sh: shellcheck is not installed (apt-get install shellcheck); skipped"
  exit 77
fi
cd "$root"

scripts=()
while IFS= read -r -d '' file; do
  case $file in
    *.sh | *.bash) scripts+=("$file") ;;
    *) head -n 1 "$file" | grep -Eq '^#!(/usr)?/bin/(env )?(ba)?sh\b' && scripts+=("$file") ;;
  esac
done < <(find . \( -name .git -o -path './build*' -o -path ./tests/fuzz/corpus \) -prune -o -type f -print0 | sort -z)
if ((${#scripts[@]} == 0)); then
  echo "shellcheck.sh: no shell scripts found under $root"
  exit 1
fi
if ! shellcheck -f gcc "${scripts[@]}"; then
  echo "shellcheck.sh: findings above (fix them, or disable one check on its line with a comment saying why)"
  exit 1
fi
echo "shellcheck.sh: ${#scripts[@]} scripts, no findings"
