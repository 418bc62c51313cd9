#include <QtTest/QtTest>

#include <filesystem>
#include <numeric>
#include <set>
#include <tuple>

#include "moe/train/datasets.h"

namespace spec = moe::spec;
using namespace moe::train;

class TestDatasets : public QObject {
    Q_OBJECT

private Q_SLOTS:
    // Known facts of the Fashion-MNIST files: first labels of each split and the pixel sums of the
    // first two training images (raw bytes, summed independently of this loader).
    void fashionMnistFirstLabelsAndPixelSums() {
        if (!std::filesystem::exists(std::string(kFashionMnistDir) + "/train-images-idx3-ubyte.gz"))
            QSKIP("dataset-fashion-mnist is not installed");
        auto train = loadFashionMnist("train");
        QVERIFY2(train.ok(), train.message().c_str());
        QCOMPARE(train->size(), std::int64_t(60000));
        QCOMPARE(train->features, 784);
        const std::vector<std::int64_t> first(train->y.begin(), train->y.begin() + 10);
        QCOMPARE(first, (std::vector<std::int64_t>{9, 0, 0, 3, 0, 2, 7, 2, 5, 5}));
        auto sumOf = [&](int i) {
            double s = 0;
            for (int p = 0; p < 784; ++p) s += train->x[static_cast<size_t>(i * 784 + p)] * 255.0;
            return std::llround(s);
        };
        QCOMPARE(sumOf(0), 76247LL);
        QCOMPARE(sumOf(1), 84598LL);
        auto test = loadFashionMnist("t10k");
        QVERIFY2(test.ok(), test.message().c_str());
        QCOMPARE(test->size(), std::int64_t(10000));
        QCOMPARE(std::vector<std::int64_t>(test->y.begin(), test->y.begin() + 5), (std::vector<std::int64_t>{9, 2, 1, 1, 6}));
    }

    void missingFileNamesThePackage() {
        auto r = loadFashionMnist("train", QDir::tempPath().toStdString() + "/no-such-fashion-dir");
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find("dataset-fashion-mnist") != std::string::npos, r.message().c_str());
        QVERIFY(r.message().find("train-images-idx3-ubyte.gz") != std::string::npos);
    }

    void syntheticSetsAreDeterministic_data() {
        QTest::addColumn<int>("kind");
        QTest::newRow("blobs") << int(spec::DatasetKind::Blobs);
        QTest::newRow("spirals") << int(spec::DatasetKind::Spirals);
        QTest::newRow("circles") << int(spec::DatasetKind::Circles);
        QTest::newRow("xor") << int(spec::DatasetKind::Xor);
        QTest::newRow("clustered") << int(spec::DatasetKind::ClusteredTokens);
    }

    void syntheticSetsAreDeterministic() {
        QFETCH(int, kind);
        spec::InputSpec in;
        in.dataset = static_cast<spec::DatasetKind>(kind);
        in.classes = 5;
        in.dims = 8;
        auto a = makeData(in, 300, 100, 42);
        auto b = makeData(in, 300, 100, 42);
        auto c = makeData(in, 300, 100, 43);
        QVERIFY(a.ok() && b.ok() && c.ok());
        QCOMPARE(a->train.x, b->train.x);
        QCOMPARE(a->train.y, b->train.y);
        QVERIFY(a->train.x != c->train.x);
        QVERIFY(a->train.x != a->test.x);
        QCOMPARE(a->train.size(), std::int64_t(300));
        QCOMPARE(a->test.size(), std::int64_t(100));
        QCOMPARE(a->train.features, in.sampleFeatures());
        // Every class is present and labels are in range.
        std::vector<int> seen(static_cast<size_t>(in.numClasses()), 0);
        for (auto y : a->train.y) {
            QVERIFY(y >= 0 && y < in.numClasses());
            seen[static_cast<size_t>(y)]++;
        }
        for (int n : seen) QVERIFY(n > 0);
        QCOMPARE(a->planar, in.sampleFeatures() == 2);
        if (a->planar) {
            for (size_t i = 0; i + 1 < a->train.x.size(); i += 2) {
                QVERIFY(a->train.x[i] > a->xMin && a->train.x[i] < a->xMax);
                QVERIFY(a->train.x[i + 1] > a->yMin && a->train.x[i + 1] < a->yMax);
            }
        }
    }

    // training.augment: every image comes out as the original mirrored or not and moved by some
    // (dx, dy) within the shift, the rest filled; every choice occurs; the draw depends on the
    // seed, the step and the image's place in the batch only.
    void augmentMirrorsAndShiftsEachImage() {
        const int side = 5, n = 400, px = side * side;
        const float fill = -7;
        std::vector<float> in(static_cast<size_t>(n) * px);
        std::iota(in.begin(), in.end(), 1.0f);
        // The reference: image i mirrored (or not), then moved by (dx, dy).
        auto expected = [&](int i, bool flip, int dx, int dy) {
            std::vector<float> e(px, fill);
            for (int y = 0; y < side; ++y)
                for (int x = 0; x < side; ++x) {
                    const int sy = y - dy, sx = x - dx;
                    if (sy < 0 || sy >= side || sx < 0 || sx >= side) continue;
                    e[static_cast<size_t>(y * side + x)] = in[static_cast<size_t>(i * px + sy * side + (flip ? side - 1 - sx : sx))];
                }
            return e;
        };
        spec::AugmentSpec aug;
        aug.flip = true;
        aug.shift = 1;
        auto out = in;
        augmentImages(out.data(), n, side, aug, 3, 17, 0, fill);
        std::set<std::tuple<bool, int, int>> seen;
        for (int i = 0; i < n; ++i) {
            const std::vector<float> got(out.begin() + i * px, out.begin() + (i + 1) * px);
            bool matched = false;
            for (bool flip : {false, true})
                for (int dx = -1; dx <= 1 && !matched; ++dx)
                    for (int dy = -1; dy <= 1 && !matched; ++dy)
                        if (got == expected(i, flip, dx, dy)) {
                            matched = true;
                            seen.insert({flip, dx, dy});
                        }
            QVERIFY2(matched, qPrintable(QString("image %1 is not a mirrored and shifted original").arg(i)));
        }
        QCOMPARE(seen.size(), size_t(18));  // 2 x 3 x 3 choices, each seen
        // Same seed and step: the same; two shards of the batch: the same as the whole.
        auto again = in, shards = in;
        augmentImages(again.data(), n, side, aug, 3, 17, 0, fill);
        QCOMPARE(again, out);
        augmentImages(shards.data(), 150, side, aug, 3, 17, 0, fill);
        augmentImages(shards.data() + 150 * px, n - 150, side, aug, 3, 17, 150, fill);
        QCOMPARE(shards, out);
        auto other = in;
        augmentImages(other.data(), n, side, aug, 3, 18, 0, fill);
        QVERIFY(other != out);
        // Nothing asked, nothing changed.
        auto none = in;
        augmentImages(none.data(), n, side, spec::AugmentSpec{}, 3, 17, 0, fill);
        QCOMPARE(none, in);
    }
};

QTEST_APPLESS_MAIN(TestDatasets)
#include "tst_datasets.moc"
