#!/usr/bin/env bash
# Checks that what README.md and docs/ show still holds:
#  - every relative markdown link leads to a file that exists, and its #anchor to a heading of that file
#    (GitHub's anchors: lower case, punctuation dropped, spaces as '-', repeats numbered);
#  - every file path of the tree that the pages name (launch/configs/fashion_mlp.yaml, src/layers.txt, ...)
#    exists; placeholders (NAME, fashion_MODEL), globs and generated files (*.h5, runs/) are left out;
#  - every `mpitrain SUBCOMMAND ...` in a code block or code span names a subcommand that `mpitrain --help`
#    lists, with only options that `mpitrain SUBCOMMAND --help` lists; each such --help, a `mpitrain --FLAG`
#    shown (--help, --version) and `reference` run and exit 0, and the README's `import csv` and `inspect` examples run on a small CSV file;
#  - no file of the tree refers to the design notes or shared folder outside the tree.
# The program is $MPITRAIN (CTest sets it), else build/mpitrain; without either the command checks are left
# out, saying so. Prints each problem as FILE:LINE: what, and exits 1 when there is any.
set -euo pipefail
root=${MT_SOURCE:-$(cd "$(dirname "$0")/../.." && pwd)}
cd "$root"
tmp=$(mktemp -d "${TMPDIR:-/tmp}/mt-docs.XXXXXX")
trap 'rm -rf "$tmp"' EXIT

pages=(README.md)
while IFS= read -r -d '' page; do
  [[ $page == docs/reference.md ]] || pages+=("$page")
done < <(find docs -name '*.md' -print0 | sort -z)
# docs/reference.md is generated and checked by cli.reference; its headings are link targets all the same.
targets=("${pages[@]}" docs/reference.md)

# --- one pass over the pages: headings, links, paths, commands -------------------------------------------
# anchors.txt: "FILE#anchor" per heading; links.txt: "FILE:LINE<TAB>target"; paths.txt: "FILE:LINE<TAB>path";
# commands.txt: "FILE:LINE<TAB>command text after 'mpitrain'".
awk -v anchors="$tmp/anchors.txt" -v links="$tmp/links.txt" -v paths="$tmp/paths.txt" \
  -v commands="$tmp/commands.txt" -v checked="${#pages[@]}" '
  FNR == 1 {
    if (page && para != "") prose(para, para_line)
    nfile++; f = FILENAME; fence = 0; split("", seen); para = ""; joined = ""; join_line = 0
    page = (nfile <= checked)
  }
  function slug(h,    s) {
    s = tolower(h)
    gsub(/[^a-z0-9 _-]/, "", s)
    gsub(/ /, "-", s)
    if (s in seen) { seen[s]++; s = s "-" seen[s] } else seen[s] = 0
    return s
  }
  # code TEXT LINE: file paths and mpitrain commands in a piece of code
  function code(text, line,    rest, p, cmd) {
    rest = text
    while (match(rest, /(^|[^A-Za-z0-9_.\/$-])(launch|src|tests|bench|docs|datasets|include|cmake|\.ci)\/[A-Za-z0-9_.\/*{}<>-]*[A-Za-z0-9_*}>]/)) {
      p = substr(rest, RSTART, RLENGTH)
      sub(/^[^a-z.]/, "", p)
      print f ":" line "\t" p > paths
      rest = substr(rest, RSTART + RLENGTH)
    }
    rest = text
    while (match(rest, /(^|[ \t\/(])mpitrain"?[ \t]+[^ \t]/)) {
      cmd = substr(rest, RSTART + RLENGTH - 1)
      print f ":" line "\t" cmd > commands
      rest = substr(rest, RSTART + RLENGTH - 1)
    }
  }
  # prose TEXT LINE: the links and code spans of a paragraph
  function prose(text, line,    rest, t, s) {
    rest = text
    while (match(rest, /\]\([^) ]+\)/)) {
      t = substr(rest, RSTART + 2, RLENGTH - 3)
      print f ":" line "\t" t > links
      rest = substr(rest, RSTART + RLENGTH)
    }
    rest = text
    while (match(rest, /`[^`]+`/)) {
      s = substr(rest, RSTART + 1, RLENGTH - 2)
      rest = substr(rest, RSTART + RLENGTH)
      code(s, line)
    }
  }
  /^[ \t]*(```|~~~)/ {
    if (page && para != "") { prose(para, para_line); para = "" }
    fence = !fence; joined = ""; next
  }
  fence {
    if (!page) next
    if (/\\$/) { joined = joined substr($0, 1, length($0) - 1) " "; if (join_line == 0) join_line = FNR; next }
    code(joined $0, join_line ? join_line : FNR); joined = ""; join_line = 0
    next
  }
  /^#+ / {
    h = $0; sub(/^#+ +/, "", h); sub(/ +#*$/, "", h)
    print f "#" slug(h) > anchors
  }
  !page { next }
  /^[ \t]*$/ { if (para != "") prose(para, para_line); para = ""; next }
  { if (para == "") { para = $0; para_line = FNR } else para = para " " $0 }
  END { if (page && para != "") prose(para, para_line) }
' "${targets[@]}"
touch "$tmp/links.txt" "$tmp/paths.txt" "$tmp/commands.txt"

bad=0
problem() {
  echo "$1"
  bad=$((bad + 1))
}

# --- links ----------------------------------------------------------------------------------------------
nlinks=0
while IFS=$'\t' read -r where target; do
  case $target in
    http://* | https://* | mailto:*) continue ;;
  esac
  nlinks=$((nlinks + 1))
  file=${where%%:*}
  path=${target%%#*}
  anchor=
  [[ $target == *#* ]] && anchor=${target#*#}
  if [[ -z $path ]]; then
    resolved=$file
  else
    resolved=$(dirname "$file")/$path
  fi
  if [[ ! -e $resolved ]]; then
    problem "$where: link to $target: no such file ($resolved)"
    continue
  fi
  if [[ -n $anchor ]]; then
    norm=$(realpath --relative-to=. "$resolved")
    if ! grep -qxF "$norm#$anchor" "$tmp/anchors.txt"; then
      problem "$where: link to $target: $norm has no heading with the anchor #$anchor"
    fi
  fi
done <"$tmp/links.txt"

# --- paths ----------------------------------------------------------------------------------------------
npaths=0
while IFS=$'\t' read -r where path; do
  case $path in
    *'<'* | *'{'* | *.h5 | *.h5.tmp* | */) continue ;; # placeholders, brace lists, generated datasets
  esac
  # A word of capitals other than README, LICENSE and CMakeLists is a placeholder (NAME, fashion_MODEL).
  if [[ $path =~ (^|[/_.-])[A-Z]{2,}([/_.-]|$) && ! $path =~ (README|LICENSE|CMakeLists) ]]; then
    continue
  fi
  npaths=$((npaths + 1))
  if [[ $path == *'*'* ]]; then
    compgen -G "$path" >/dev/null || problem "$where: $path matches no file"
  elif [[ ! -e $path ]]; then
    problem "$where: $path: no such file or directory"
  fi
done < <(sort -u "$tmp/paths.txt")

# --- no references to files outside the tree ------------------------------------------------------------
design="DESIGN"".md"
shared="\\.\\./shared"
while IFS= read -r hit; do
  problem "$hit: refers to a file outside the tree"
done < <(grep -rnIE "$design|$shared" --exclude-dir=.git --exclude-dir='build*' --exclude-dir=corpus . || true)

# --- commands -------------------------------------------------------------------------------------------
mpitrain=${MPITRAIN:-$root/build/mpitrain}
ncommands=0
if [[ ! -x $mpitrain ]]; then
  echo "docs.sh: no mpitrain program (set MPITRAIN or build build/mpitrain): commands not checked"
else
  "$mpitrain" --help >"$tmp/help" 2>&1 || problem "mpitrain --help: exit status $?"
  subcommands=$(awk '/^commands:/ { on = 1; next } on && /^  [a-z]/ { print $1 }' "$tmp/help" | sort -u)
  [[ -n $subcommands ]] || problem "mpitrain --help lists no commands"
  # help_of NAME: the --help text of a subcommand ("import idx" has its own), written once
  help_of() {
    local key=${1// /_}
    if [[ ! -f $tmp/help_$key ]]; then
      # shellcheck disable=SC2086 # "import idx" is two words on purpose
      "$mpitrain" $1 --help >"$tmp/help_$key" 2>&1 || problem "mpitrain $1 --help: exit status $?"
    fi
    echo "$tmp/help_$key"
  }
  while IFS=$'\t' read -r where text; do
    read -r -a words <<<"$text"
    sub=${words[0]}
    first=1
    if [[ $sub == -* ]]; then
      flag=${sub%%[]=,.\`]*}
      if [[ ! $flag =~ ^--?[a-z-]+$ ]] || ! "$mpitrain" "$flag" >/dev/null 2>&1; then
        problem "$where: 'mpitrain $flag' does not exit 0"
      fi
      ncommands=$((ncommands + 1))
      continue
    elif [[ ! $sub =~ ^[a-z]+$ ]]; then
      continue # a placeholder (COMMAND) or not a command
    elif ! grep -qx "$sub" <<<"$subcommands"; then
      problem "$where: 'mpitrain $sub': no such command (mpitrain --help lists: ${subcommands//$'\n'/ })"
      continue
    else
      if [[ $sub == import && ${words[1]:-} =~ ^(idx|csv)$ ]]; then
        sub="import ${words[1]}"
        first=2
      fi
      help=$(help_of "$sub")
    fi
    ncommands=$((ncommands + 1))
    for word in "${words[@]:first}"; do
      case $word in
        '|' | '||' | '&&' | ';' | '>' | '>>' | '<' | '2>' | '2>&1' | '#' | "\\" | ')') break ;;
      esac
      word=${word#[}
      [[ $word == -* ]] || continue
      [[ $word =~ ^-[0-9.] || $word == - ]] && continue # a negative number, stdin
      flag=${word%%[]=,.\`]*}
      if ! grep -qE -- "(^|[^A-Za-z0-9-])$flag([^A-Za-z0-9-]|$)" "$help"; then
        problem "$where: 'mpitrain ${sub:+$sub }... $flag': $flag is not an option 'mpitrain ${sub:+$sub }--help' lists"
      fi
    done
  done <"$tmp/commands.txt"

  # The cheap commands, run: reference, and the README's import csv and inspect examples on a small file.
  "$mpitrain" reference -o "$tmp/reference.md" >/dev/null 2>&1 || problem "mpitrain reference: exit status $?"
  awk 'BEGIN { srand(7); print "id,x1,x2,y";
               for (i = 0; i < 40; i++) { a = rand(); printf "%d,%.3f,%.3f,%d\n", i, a, rand(), (a > 0.5) } }' \
    >"$tmp/d.csv"
  # shellcheck disable=SC2016 # the backquotes are the markdown's code spans, not a command substitution
  examples='`build/mpitrain (import csv d\.csv|inspect d\.h5)[^`]*`'
  while IFS= read -r example; do
    ncommands=$((ncommands + 1))
    read -r -a args <<<"${example#*mpitrain }"
    if ! (cd "$tmp" && "$mpitrain" "${args[@]}") >"$tmp/run.out" 2>&1; then
      problem "README.md: '$example' fails on a small CSV file: $(head -n 1 "$tmp/run.out")"
    fi
  done < <(grep -ohE "$examples" README.md | tr -d '`')
fi

if ((bad > 0)); then
  echo "docs.sh: $bad problem(s) in README.md and docs/"
  exit 1
fi
echo "docs.sh: ${#pages[@]} pages: $nlinks links, $npaths paths, $ncommands mpitrain commands checked"
