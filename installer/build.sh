#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds MoE Studio and then either runs it or runs the tests.
#   installer/build.sh run    open the studio on the default project (or, with no display or no
#                             studio, describe, train and report the default project with `moe`)
#   installer/build.sh test   run the whole test suite
# Both are incremental: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
case "$mode" in
  run|test) ;;
  *) echo "usage: installer/build.sh run|test" >&2; exit 2 ;;
esac

bash installer/setup-debian.sh

BUILD_DIR="${MOE_BUILD_DIR:-build}"
DEFAULT_PROJECT="${MOE_PROJECT:-projects/classroom_spirals.json}"
jobs="$(nproc)"
cmake_args=(-S . -B "$BUILD_DIR" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo)
if [ -n "${CI:-}" ]; then cmake_args+=(-DMOE_WARNINGS_AS_ERRORS=ON); fi
if [ ! -f "$BUILD_DIR/build.ninja" ] || [ -n "${CI:-}" ]; then
  cmake "${cmake_args[@]}" >/dev/null
fi
cmake --build "$BUILD_DIR" -j "$jobs"

if [ "$mode" = test ]; then
  cd "$BUILD_DIR"
  exec ctest --output-on-failure -j "$jobs" --timeout 900
fi

moe="$BUILD_DIR/app/cli/moe"
studio="$BUILD_DIR/app/studio/moe-studio"
if [ -x "$studio" ] && { [ -n "${DISPLAY:-}" ] || [ -n "${WAYLAND_DISPLAY:-}" ]; }; then
  exec "$studio" "$DEFAULT_PROJECT"
fi
echo "== no display (or no studio build): running $DEFAULT_PROJECT headless through moe"
"$moe" describe "$DEFAULT_PROJECT"
if "$moe" --help | grep -q "^  train "; then
  mkdir -p runs
  run="runs/$(basename "$DEFAULT_PROJECT" .json).sqlite"
  "$moe" train "$DEFAULT_PROJECT" --out "$run"
  "$moe" report "$run"
fi
