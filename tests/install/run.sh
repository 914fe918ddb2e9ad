#!/bin/bash
# install.consumer: installs the build into a temporary prefix (cmake --install --prefix), checks what is
# there, and builds tests/install/consumer.c against it three ways: with pkg-config (shared library, then
# static with pkg-config --static) and with a CMake project using find_package(mpitrain) (shared and
# static targets). Each consumer runs under mpiexec -np 2 and checks training, evaluation, prediction and
# checkpoints through the C API. Ends with "N passed, M failed".
#
# Environment (set by tests/CMakeLists.txt): MT_BUILD (build directory), MT_SOURCE, CMAKE (cmake
# program), CC, PKG_CONFIG, MPIEXEC, MPIEXEC_PREFLAGS.
# shellcheck disable=SC2015 # ok and no always return 0, so "CHECK && ok ... || no ..." is an if-then-else
set -u
: "${MT_BUILD:?}" "${MT_SOURCE:?}" "${CMAKE:=cmake}" "${CC:=cc}" "${PKG_CONFIG:=pkg-config}" "${MPIEXEC:=mpiexec}"
: "${MPIEXEC_PREFLAGS:=}"
T=$(mktemp -d "${TMPDIR:-/tmp}/mt-install.XXXXXX") || exit 1
trap 'rm -rf "$T"' EXIT
pass=0 fail=0
ok() { echo "ok   - $*"; pass=$((pass + 1)); }
no() { echo "FAIL - $*"; fail=$((fail + 1)); }
P=$T/prefix
# shellcheck disable=SC2086  # the preflags are a list of words
run2() { timeout 120 "$MPIEXEC" -np 2 $MPIEXEC_PREFLAGS "$@"; }

# Runs consumer $1 in its own work directory, showing its output on failure.
consume() {
  local exe=$1 name=$2 dir=$T/work_$2
  mkdir -p "$dir"
  if run2 "$exe" "$dir" >"$T/$name.log" 2>&1 && grep -q "all checks passed" "$T/$name.log"; then
    ok "$name consumer: $(grep -c '^ok' "$T/$name.log") checks passed at np 2"
  else
    no "$name consumer failed:"
    sed 's/^/    /' "$T/$name.log"
  fi
}

"$CMAKE" --install "$MT_BUILD" --prefix "$P" >"$T/install.log" 2>&1 && ok "cmake --install --prefix" \
  || { no "cmake --install: $(tail -n 3 "$T/install.log")"; echo "$pass passed, $fail failed"; exit 1; }
pc=$(find "$P" -name mpitrain.pc | head -n 1)
libdir=$(cd "$(dirname "${pc:-$P/lib/pkgconfig/x}")/.." 2>/dev/null && pwd) || libdir=$P/lib
for f in bin/mpitrain include/mpitrain/mpitrain.h include/mpitrain/api.h; do
  [ -f "$P/$f" ] && ok "installed $f" || no "missing $f"
done
for f in libmpitrain.a libmpitrain.so pkgconfig/mpitrain.pc cmake/mpitrain/mpitrainConfig.cmake \
  cmake/mpitrain/mpitrainConfigVersion.cmake; do
  [ -e "$libdir/$f" ] && ok "installed lib/$f" || no "missing lib/$f"
done
"$P/bin/mpitrain" --version >"$T/version.log" 2>&1 && grep -q "^mpitrain " "$T/version.log" \
  && ok "installed mpitrain runs: $(cat "$T/version.log")" || no "installed mpitrain: $(cat "$T/version.log")"
# Only the public API leaves the shared library.
if command -v nm >/dev/null; then
  bad=$(nm -D --defined-only "$libdir/libmpitrain.so" | awk '$2 == "T" { print $3 }' \
    | grep -v -E '^(mt_trainer_|mt_request_stop|mt_status_|mt_version)' | head -n 3)
  [ -z "$bad" ] && ok "libmpitrain.so exports only the public API" || no "libmpitrain.so exports $bad"
fi

# pkg-config: the shared library (MPI comes from Requires), then a static link (Requires.private and
# Libs.private must bring everything libmpitrain.a needs).
export PKG_CONFIG_PATH=$libdir/pkgconfig
if flags=$("$PKG_CONFIG" --cflags --libs mpitrain 2>"$T/pc.err"); then
  ok "pkg-config --cflags --libs mpitrain: $flags"
  # shellcheck disable=SC2086  # flags are words
  "$CC" -std=c11 -O2 "$MT_SOURCE/tests/install/consumer.c" -o "$T/consumer_pc" $flags -lm \
    -Wl,-rpath,"$libdir" >"$T/cc.log" 2>&1 && ok "built with pkg-config" || no "cc: $(cat "$T/cc.log")"
  [ -x "$T/consumer_pc" ] && consume "$T/consumer_pc" pkg-config
else
  no "pkg-config mpitrain: $(cat "$T/pc.err")"
fi
if flags=$("$PKG_CONFIG" --static --cflags --libs mpitrain 2>"$T/pc.err"); then
  flags=${flags/-lmpitrain/-l:libmpitrain.a}
  # shellcheck disable=SC2086
  "$CC" -std=c11 -O2 "$MT_SOURCE/tests/install/consumer.c" -o "$T/consumer_pc_static" $flags -lm \
    >"$T/cc_static.log" 2>&1 && ok "built statically with pkg-config --static" \
    || no "cc --static: $(cat "$T/cc_static.log")"
  if [ -x "$T/consumer_pc_static" ]; then
    ldd "$T/consumer_pc_static" | grep -q libmpitrain && no "the static consumer loads libmpitrain.so" \
      || ok "the static consumer does not need libmpitrain.so"
    consume "$T/consumer_pc_static" pkg-config-static
  fi
else
  no "pkg-config --static mpitrain: $(cat "$T/pc.err")"
fi

# CMake: find_package(mpitrain COMPONENTS static), both targets.
"$CMAKE" -S "$MT_SOURCE/tests/install/cmake_consumer" -B "$T/cmake" -DCMAKE_BUILD_TYPE=Release \
  -DCMAKE_PREFIX_PATH="$P" -DCMAKE_C_COMPILER="$CC" >"$T/cmake.log" 2>&1 \
  && "$CMAKE" --build "$T/cmake" -j2 >>"$T/cmake.log" 2>&1 && ok "built with find_package(mpitrain)" \
  || no "CMake consumer: $(tail -n 20 "$T/cmake.log")"
[ -x "$T/cmake/consumer_shared" ] && consume "$T/cmake/consumer_shared" cmake-shared
[ -x "$T/cmake/consumer_static" ] && consume "$T/cmake/consumer_static" cmake-static
if [ -x "$T/cmake/consumer_shared" ]; then
  ldd "$T/cmake/consumer_shared" | grep -q "$P" && ok "the CMake consumer loads the installed libmpitrain.so" \
    || no "the CMake consumer does not load the installed library: $(ldd "$T/cmake/consumer_shared" | grep mpitrain)"
fi

echo "$pass passed, $fail failed"
[ "$fail" = 0 ]
