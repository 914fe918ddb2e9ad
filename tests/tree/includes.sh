#!/usr/bin/env bash
# Checks the include graph of src/: every `#include "folder/file.h"` follows an edge that
# src/layers.txt allows, every included file exists, and no chain of includes among the files leads
# back to where it started. Prints each offending include as file:line and exits 1.
set -euo pipefail
src=${MT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}/src

# allowed["a b"] = 1 for each edge a -> b of layers.txt, and a -> a.
declare -A allowed folder_known
while IFS=: read -r from tos; do
  [[ $from =~ ^[[:space:]]*(#|$) ]] && continue
  folder_known[$from]=1
  allowed["$from $from"]=1
  for to in $tos; do
    allowed["$from $to"]=1
  done
done <"$src/layers.txt"

bad=0
edges=$(mktemp)
trap 'rm -f "$edges"' EXIT
while IFS= read -r file; do
  rel=${file#"$src"/}
  from=${rel%%/*}
  if [[ -z ${folder_known[$from]:-} ]]; then
    echo "$rel: folder '$from' is not listed in src/layers.txt"
    bad=1
    continue
  fi
  while IFS=: read -r line inc; do
    inc=${inc#*\"}
    inc=${inc%%\"*}
    to=${inc%%/*}
    if [[ ! -f $src/$inc ]]; then
      echo "$rel:$line: includes \"$inc\", which is not in src/"
      bad=1
    elif [[ -z ${allowed["$from $to"]:-} ]]; then
      echo "$rel:$line: $from/ may not include $to/ (\"$inc\"; src/layers.txt lists what $from/ may include)"
      bad=1
    fi
    echo "$rel $inc" >>"$edges"
  done < <(grep -n '^[[:space:]]*#[[:space:]]*include[[:space:]]*"' "$file" || true)
done < <(find "$src" -name '*.[ch]' | sort)

# A cycle among files: tsort reports one when the graph has any.
if ! tsort "$edges" >/dev/null 2>"$edges.err"; then
  echo "the includes of src/ form a cycle:"
  sed 's/^tsort: //' "$edges.err"
  bad=1
fi
rm -f "$edges.err"
if ((bad)); then
  exit 1
fi
echo "includes.sh: $(wc -l <"$edges") includes of src/ follow src/layers.txt, no cycles"
