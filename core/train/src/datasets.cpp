#include "moe/train/datasets.h"

#include <zlib.h>

#include <algorithm>
#include <cmath>
#include <filesystem>
#include <numbers>
#include <random>

namespace moe::train {
namespace {

using moe::spec::DatasetKind;
using moe::spec::Diagnostics;

constexpr const char* kPackage = "dataset-fashion-mnist";

bool readGz(const std::string& path, std::vector<unsigned char>& out, std::string& error) {
    gzFile f = gzopen(path.c_str(), "rb");
    if (!f) {
        error = "cannot open " + path;
        return false;
    }
    out.clear();
    unsigned char buf[1 << 16];
    int n = 0;
    while ((n = gzread(f, buf, sizeof buf)) > 0) out.insert(out.end(), buf, buf + n);
    int errnum = 0;
    const char* msg = gzerror(f, &errnum);
    const bool ok = n == 0 && errnum == Z_OK;
    if (!ok) error = path + " is not a readable gzip file: " + (msg ? msg : "unknown zlib error");
    gzclose(f);
    return ok;
}

std::uint32_t be32(const std::vector<unsigned char>& d, size_t at) {
    return (std::uint32_t(d[at]) << 24) | (std::uint32_t(d[at + 1]) << 16) | (std::uint32_t(d[at + 2]) << 8) | std::uint32_t(d[at + 3]);
}

// The shape of a synthetic set (blob and cluster centres) depends only on the input spec, so the
// train and test sets drawn with different seeds come from the same distribution.
std::uint64_t shapeSeed(const moe::spec::InputSpec& in) {
    return 0x5eed0000ULL + static_cast<std::uint64_t>(in.classes) * 7919ULL + static_cast<std::uint64_t>(in.dims) * 104729ULL;
}

}  // namespace

moe::spec::Result<Dataset> loadFashionMnist(const std::string& part, const std::string& dir) {
    const std::string images = dir + "/" + part + "-images-idx3-ubyte.gz";
    const std::string labels = dir + "/" + part + "-labels-idx1-ubyte.gz";
    for (const auto& f : {images, labels}) {
        std::error_code ec;
        if (!std::filesystem::is_regular_file(f, ec))
            return Diagnostics{{"model.input.dataset", "Fashion-MNIST file " + f + " is missing; install the Debian package " + kPackage +
                                                           " (sudo apt-get install " + kPackage + ")"}};
    }
    std::vector<unsigned char> img, lab;
    std::string err;
    if (!readGz(images, img, err) || !readGz(labels, lab, err)) return Diagnostics{{"model.input.dataset", err}};
    if (img.size() < 16 || be32(img, 0) != 0x00000803)
        return Diagnostics{{"model.input.dataset", images + " is not an IDX image file (bad magic number); reinstall " + kPackage}};
    if (lab.size() < 8 || be32(lab, 0) != 0x00000801)
        return Diagnostics{{"model.input.dataset", labels + " is not an IDX label file (bad magic number); reinstall " + kPackage}};
    const std::uint32_t n = be32(img, 4), rows = be32(img, 8), cols = be32(img, 12);
    const std::uint32_t nl = be32(lab, 4);
    if (rows != 28 || cols != 28 || n != nl || img.size() != 16 + size_t(n) * 784 || lab.size() != 8 + size_t(n))
        return Diagnostics{{"model.input.dataset", images + " and " + labels + " do not hold matching 28x28 images and labels; reinstall " + kPackage}};
    Dataset d;
    d.features = 784;
    d.classes = 10;
    d.x.resize(size_t(n) * 784);
    d.y.resize(n);
    for (size_t i = 0; i < d.x.size(); ++i) d.x[i] = static_cast<float>(img[16 + i]) / 255.0f;
    for (std::uint32_t i = 0; i < n; ++i) {
        if (lab[8 + i] > 9) return Diagnostics{{"model.input.dataset", labels + " holds a label above 9; reinstall " + kPackage}};
        d.y[i] = lab[8 + i];
    }
    return d;
}

Dataset makeSynthetic(const moe::spec::InputSpec& in, int samples, std::uint64_t seed) {
    Dataset d;
    d.classes = in.numClasses();
    d.features = in.sampleFeatures();
    d.x.reserve(size_t(samples) * size_t(d.features));
    d.y.reserve(size_t(samples));
    std::mt19937_64 rng(seed);
    std::normal_distribution<double> gauss(0.0, 1.0);
    std::uniform_real_distribution<double> uni(0.0, 1.0);
    const double noise = in.noise;
    constexpr double pi = std::numbers::pi;
    auto push2 = [&](double x, double y, int label) {
        d.x.push_back(static_cast<float>(x + noise * gauss(rng)));
        d.x.push_back(static_cast<float>(y + noise * gauss(rng)));
        d.y.push_back(label);
    };
    switch (in.dataset) {
        case DatasetKind::Blobs:
            // Centres evenly on a circle of radius 2.5; each blob has a base spread of 0.5.
            for (int i = 0; i < samples; ++i) {
                const int c = i % d.classes;
                const double a = 2 * pi * c / d.classes;
                push2(2.5 * std::cos(a) + 0.5 * gauss(rng), 2.5 * std::sin(a) + 0.5 * gauss(rng), c);
            }
            break;
        case DatasetKind::Spirals:
            // Two interleaved arms of 1.5 turns, radius growing to 3.
            for (int i = 0; i < samples; ++i) {
                const int c = i % 2;
                const double t = uni(rng);
                const double r = 0.3 + 2.7 * t;
                const double a = 3 * pi * t + c * pi;
                push2(r * std::cos(a), r * std::sin(a), c);
            }
            break;
        case DatasetKind::Circles:
            // Class 0 on the circle of radius 1, class 1 on radius 2.
            for (int i = 0; i < samples; ++i) {
                const int c = i % 2;
                const double a = 2 * pi * uni(rng);
                const double r = c == 0 ? 1.0 : 2.0;
                push2(r * std::cos(a), r * std::sin(a), c);
            }
            break;
        case DatasetKind::Xor:
            for (int i = 0; i < samples; ++i) {
                const double x = 4 * uni(rng) - 2, y = 4 * uni(rng) - 2;
                push2(x, y, (x > 0) != (y > 0) ? 1 : 0);
            }
            break;
        case DatasetKind::ClusteredTokens: {
            // Centres drawn once from the shape seed, 3 units apart on average per dimension pair.
            std::mt19937_64 shape(shapeSeed(in));
            std::vector<double> centres(size_t(d.classes) * size_t(d.features));
            for (double& v : centres) v = 1.5 * gauss(shape);
            for (int i = 0; i < samples; ++i) {
                const int c = i % d.classes;
                for (int f = 0; f < d.features; ++f)
                    d.x.push_back(static_cast<float>(centres[size_t(c) * size_t(d.features) + size_t(f)] + noise * gauss(rng)));
                d.y.push_back(c);
            }
            break;
        }
        case DatasetKind::FashionMnist:  // real data: see loadFashionMnist
        case DatasetKind::Text: break;   // real text: see loadTextCorpus
    }
    // Samples were generated class by class in turn; shuffle so any prefix is a fair sample.
    std::vector<std::int64_t> order(d.y.size());
    for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
    std::shuffle(order.begin(), order.end(), rng);
    Dataset s;
    s.classes = d.classes;
    s.features = d.features;
    s.x.resize(d.x.size());
    s.y.resize(d.y.size());
    for (size_t i = 0; i < order.size(); ++i) {
        const auto o = static_cast<size_t>(order[i]);
        std::copy_n(d.x.begin() + static_cast<long>(o * size_t(d.features)), d.features, s.x.begin() + static_cast<long>(i * size_t(d.features)));
        s.y[i] = d.y[o];
    }
    return s;
}

void augmentImages(float* images, std::int64_t rows, int side, const moe::spec::AugmentSpec& augment, unsigned seed, std::int64_t step,
                   std::int64_t firstSample, float fill) {
    if (!augment.any() || side < 1) return;
    const auto mix = [](std::uint64_t z) {  // splitmix64's finaliser
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL;
        return z ^ (z >> 31);
    };
    const int s = augment.shift, span = 2 * s + 1;
    std::vector<float> src(static_cast<size_t>(side) * side);
    for (std::int64_t i = 0; i < rows; ++i) {
        std::uint64_t r = mix(mix(mix(seed + 0x9E3779B97F4A7C15ULL) + static_cast<std::uint64_t>(step)) + static_cast<std::uint64_t>(firstSample + i));
        const bool flip = augment.flip && (r & 1);
        r >>= 1;
        const int dx = s > 0 ? static_cast<int>(r % span) - s : 0;
        r /= span;
        const int dy = s > 0 ? static_cast<int>(r % span) - s : 0;
        if (!flip && dx == 0 && dy == 0) continue;
        float* img = images + i * side * side;
        std::copy(img, img + src.size(), src.begin());
        // Output pixel (y, x) shows the mirrored image's pixel (y - dy, x - dx).
        for (int y = 0; y < side; ++y)
            for (int x = 0; x < side; ++x) {
                const int sy = y - dy, sx0 = x - dx;
                const bool inside = sy >= 0 && sy < side && sx0 >= 0 && sx0 < side;
                const int sx = flip ? side - 1 - sx0 : sx0;
                img[y * side + x] = inside ? src[static_cast<size_t>(sy) * side + sx] : fill;
            }
    }
}

moe::spec::Result<DataSplit> makeData(const moe::spec::InputSpec& input, int trainSamples, int testSamples, unsigned seed,
                                      const std::string& fashionDir) {
    DataSplit split;
    if (input.dataset == DatasetKind::FashionMnist) {
        auto train = loadFashionMnist("train", fashionDir);
        if (!train) return train.errors();
        auto test = loadFashionMnist("t10k", fashionDir);
        if (!test) return test.errors();
        split.train = std::move(train.value());
        split.test = std::move(test.value());
        // Standardise with the training set's own statistics.
        double sum = 0, sq = 0;
        for (float v : split.train.x) {
            sum += v;
            sq += double(v) * v;
        }
        const double n = static_cast<double>(split.train.x.size());
        const double mean = sum / n;
        const double sd = std::sqrt(std::max(sq / n - mean * mean, 1e-12));
        for (auto* set : {&split.train, &split.test})
            for (float& v : set->x) v = static_cast<float>((v - mean) / sd);
        split.background = static_cast<float>(-mean / sd);
        return split;
    }
    const std::uint64_t s = static_cast<std::uint64_t>(seed) * 0x9E3779B97F4A7C15ULL;
    split.train = makeSynthetic(input, trainSamples, s + 1);
    split.test = makeSynthetic(input, testSamples, s + 2);
    split.planar = input.sampleFeatures() == 2;
    if (split.planar) {
        double x0 = 1e300, x1 = -1e300, y0 = 1e300, y1 = -1e300;
        for (size_t i = 0; i + 1 < split.train.x.size(); i += 2) {
            x0 = std::min<double>(x0, split.train.x[i]);
            x1 = std::max<double>(x1, split.train.x[i]);
            y0 = std::min<double>(y0, split.train.x[i + 1]);
            y1 = std::max<double>(y1, split.train.x[i + 1]);
        }
        const double mx = 0.05 * std::max(x1 - x0, 1e-6), my = 0.05 * std::max(y1 - y0, 1e-6);
        split.xMin = x0 - mx;
        split.xMax = x1 + mx;
        split.yMin = y0 - my;
        split.yMax = y1 + my;
    }
    return split;
}

}  // namespace moe::train
