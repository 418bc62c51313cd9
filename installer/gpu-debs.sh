#!/usr/bin/env bash
# Prepares, on a Debian 12 machine with network access to Debian's archive, the packages that the
# headless GPU build (installer/gpu-check.sh) needs on a machine that has a GPU and a CUDA LibTorch
# but no package registry: the .deb files go to .gpu/debs (ignored by git) and travel with the tree.
# gpu-check.sh unpacks them into a private prefix (never into /).
#   installer/gpu-debs.sh [--with-fashion-mnist]   (Fashion-MNIST adds 30 MB)
set -euo pipefail
cd "$(dirname "$0")/.."
dest=.gpu/debs
mkdir -p "$dest"
# Build: spdlog (+fmt), nlohmann-json, SQLite, zlib, Qt Core + Test (the tests are Qt Test
# programs) with moc, ninja. Run time of Qt Core on a non-Debian system: ICU 72,
# double-conversion, libb2, PCRE2-16, GLib. Data: the fortunes corpus for the language model.
pkgs=(libspdlog-dev libspdlog1.10 libfmt-dev libfmt9 nlohmann-json3-dev libsqlite3-dev libsqlite3-0
      zlib1g-dev qt6-base-dev qt6-base-dev-tools qmake6 qmake6-bin libqt6core6 libqt6test6 libicu72 libdouble-conversion3
      libb2-1 libpcre2-16-0 libglib2.0-0 ninja-build fortunes fortunes-min)
if [ "${1:-}" = "--with-fashion-mnist" ]; then pkgs+=(dataset-fashion-mnist); fi
(cd "$dest" && apt-get download "${pkgs[@]}")
echo "gpu-debs: $(ls "$dest"/*.deb | wc -l) packages, $(du -sh "$dest" | cut -f1) in $dest"
