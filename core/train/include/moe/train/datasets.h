#pragma once
// Datasets the trainer learns from, all deterministic from a seed and torch-free (plain vectors),
// so loaders are testable and cheap to include.
//  - Fashion-MNIST: the Debian package dataset-fashion-mnist's IDX .gz files.
//  - 2-D sets for the classroom: gaussian blobs, two spirals, circles, xor.
//  - Clustered tokens: C gaussian clusters in d dimensions, one label per cluster.

#include <cstdint>
#include <string>
#include <vector>

#include "moe/spec/diagnostic.h"
#include "moe/spec/model_spec.h"

namespace moe::train {

struct Dataset {
    int features = 0;            // values per sample
    int classes = 0;
    std::vector<float> x;        // [size x features], row-major
    std::vector<std::int64_t> y; // [size] labels in [0, classes)
    std::int64_t size() const { return static_cast<std::int64_t>(y.size()); }
};

struct DataSplit {
    Dataset train;
    Dataset test;
    bool planar = false;         // a 2-D set: routing maps can be drawn over its plane
    // Bounding box of the training set with a margin (planar sets only).
    double xMin = 0, xMax = 0, yMin = 0, yMax = 0;
};

// Where the Debian package puts the files; overridable for tests.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads one IDX file pair ("train" or "t10k"): pixels scaled to [0, 1] (not standardised).
// Fails with a message naming the missing file and the Debian package to install.
moe::spec::Result<Dataset> loadFashionMnist(const std::string& part, const std::string& dir = kFashionMnistDir);

// Builds the train and test sets a project's input asks for. Synthetic sets use trainSamples and
// testSamples from the training settings; Fashion-MNIST uses all 60000 + 10000 images, with the
// pixels standardised by the training set's mean and standard deviation.
moe::spec::Result<DataSplit> makeData(const moe::spec::InputSpec& input, int trainSamples, int testSamples,
                                      unsigned seed, const std::string& fashionDir = kFashionMnistDir);

// One synthetic set (exposed for tests and the classroom).
Dataset makeSynthetic(const moe::spec::InputSpec& input, int samples, std::uint64_t seed);

}  // namespace moe::train
