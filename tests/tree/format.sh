#!/usr/bin/env bash
# Checks that every C file of src/, include/, tests/ and bench/ is formatted as the tree's .clang-format
# says: prints the files clang-format would change, with the first lines of each change, and exits 1 when
# there is any; exits 77 (skipped) when clang-format is not installed (launch/setup --test-tools installs
# it). To format a file: clang-format -i FILE.
set -euo pipefail
root=${MT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
if ! command -v clang-format >/dev/null 2>&1; then
  echo "format.sh: clang-format is not installed (apt-get install clang-format); skipped"
  exit 77
fi
cd "$root"

files=0
bad=0
while IFS= read -r -d '' file; do
  files=$((files + 1))
  if ! clang-format --style=file "$file" | diff -u "$file" - >"${TMPDIR:-/tmp}/format.$$" 2>&1; then
    echo "$file: not formatted (clang-format -i $file):"
    sed -n '3,12p' "${TMPDIR:-/tmp}/format.$$"
    bad=$((bad + 1))
  fi
done < <(find src include tests bench -name '*.[ch]' -not -path 'tests/fuzz/corpus/*' -print0 | sort -z)
rm -f "${TMPDIR:-/tmp}/format.$$"
if ((bad > 0)); then
  echo "format.sh: $bad of $files C files are not formatted"
  exit 1
fi
echo "format.sh: $files C files formatted as .clang-format says"
