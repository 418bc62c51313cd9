#!/usr/bin/env bash
# Sets up a Debian 12 machine, builds MoE Studio and then either runs it or runs the tests.
#   installer/build.sh run       open the studio on the default project (or, with no display or no
#                                studio, describe, train and report the default project with `moe`)
#   installer/build.sh test      run the whole test suite, then the whole suite again under
#                                AddressSanitizer + UndefinedBehaviorSanitizer (the sanitize
#                                mode; MOE_TEST_SANITIZERS=0 leaves that second run out)
#   installer/build.sh sanitize  build with AddressSanitizer + UndefinedBehaviorSanitizer in
#                                build-asan/ and run the whole test suite there
#   installer/build.sh tsan      build the threaded parts with ThreadSanitizer in build-tsan/ and
#                                run the trainer, run-store writer and studio thread tests
# All are incremental: a second run only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

mode="${1:-run}"
case "$mode" in
  run|test|sanitize|tsan) ;;
  *) echo "usage: installer/build.sh run|test|sanitize|tsan" >&2; exit 2 ;;
esac

bash installer/setup-debian.sh

jobs="$(nproc)"

# configure DIR [CMAKE ARGS...]: (re)configures DIR when it is new, or always under CI.
configure() {
  local dir="$1"
  shift
  local args=(-S . -B "$dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@")
  if [ -n "${CI:-}" ]; then args+=(-DMOE_WARNINGS_AS_ERRORS=ON); fi
  if [ ! -f "$dir/build.ninja" ] || [ -n "${CI:-}" ]; then
    cmake "${args[@]}" >/dev/null
  fi
}

# The sanitizer builds: -O1 (what the sanitizers' authors advise; faster to build than -O2) and
# line tables only (-g1), enough for their reports to name file and line; no CUDA (no GPU to run
# it, and nvcc takes no -fsanitize). The run-time options and suppressions, with their reasons,
# are in tests/sanitizers/options.txt; CTest passes them to every test.
sanitizer_args=("-DCMAKE_CXX_FLAGS_RELWITHDEBINFO=-O1 -g1 -DNDEBUG" -DMOE_ENABLE_CUDA=OFF)

# The whole suite under AddressSanitizer + UndefinedBehaviorSanitizer, GUI tests under xvfb
# included; its own build folder, as no object file can be shared with the normal build.
sanitized_suite() {
  local dir="${MOE_ASAN_BUILD_DIR:-build-asan}"
  echo "== the whole test suite again, under AddressSanitizer + UndefinedBehaviorSanitizer ($dir)"
  configure "$dir" -DMOE_SANITIZE=address,undefined "${sanitizer_args[@]}"
  cmake --build "$dir" -j "$jobs"
  (cd "$dir" && ctest --output-on-failure -j "$jobs")
}

if [ "$mode" = sanitize ]; then
  sanitized_suite
  exit 0
fi

if [ "$mode" = tsan ]; then
  dir="${MOE_TSAN_BUILD_DIR:-build-tsan}"
  # The threads: the trainer's own thread and its pause/step/stop intents, the run store's
  # background writer and its readers, the studio's training controller and planner simulation.
  configure "$dir" -DMOE_SANITIZE=thread -DMOE_ENABLE_VULKAN=OFF "${sanitizer_args[@]}"
  cmake --build "$dir" -j "$jobs" --target tst_train_trainer tst_telemetry_run_store \
    tst_studio_mainwindow tst_studio_planner
  cd "$dir"
  exec ctest --output-on-failure -j "$jobs" -R '^(train/trainer|telemetry/run_store|studio/mainwindow|studio/planner)$'
fi

BUILD_DIR="${MOE_BUILD_DIR:-build}"
DEFAULT_PROJECT="${MOE_PROJECT:-projects/classroom_spirals.json}"
configure "$BUILD_DIR"
cmake --build "$BUILD_DIR" -j "$jobs"

if [ "$mode" = test ]; then
  (cd "$BUILD_DIR" && ctest --output-on-failure -j "$jobs" --timeout 900)
  if [ "${MOE_TEST_SANITIZERS:-1}" != 0 ]; then sanitized_suite; fi
  exit 0
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
