#!/usr/bin/env bash
# Installs every Debian 12 package MoE Studio needs to build, test and run.
# Idempotent: packages already installed are skipped, so a second run takes a second.
set -euo pipefail

PACKAGES=(
  # toolchain
  cmake g++ pkg-config ninja-build git
  # Qt 6
  qt6-base-dev qt6-base-dev-tools libqt6opengl6-dev qt6-charts-dev qt6-svg-dev qt6-qpa-plugins
  # Dear ImGui + Vulkan (lavapipe gives a software Vulkan device where there is no GPU)
  libimgui-dev libstb-dev libvulkan-dev vulkan-tools glslc mesa-vulkan-drivers libgl1-mesa-dri
  # LibTorch (CPU) and an optimised BLAS for it; Gloo headers for c10d
  libtorch-dev libgloo-dev libopenblas0-pthread
  # logging, JSON, storage, compression
  libspdlog-dev libfmt-dev nlohmann-json3-dev libsqlite3-dev zlib1g-dev
  # headless display and screenshots
  xvfb xauth imagemagick x11-utils
  # data
  dataset-fashion-mnist
  # real English prose for the byte-level language models (projects/lm_*.json)
  fortunes
  # packaging
  dpkg-dev file
  # fuzzing (tests/fuzz/fuzz.sh): clang with libFuzzer and the sanitizer runtimes
  clang clang-14 libclang-rt-14-dev
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "installer: all ${#PACKAGES[@]} packages present"
  exit 0
fi

echo "installer: installing ${#missing[@]} package(s): ${missing[*]}"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "installer: done"
