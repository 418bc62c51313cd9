// Parameter and FLOP counts checked against hand calculations (worked out in the comments).
#include <QtTest>

#include "moe/spec/derived.h"
#include "moe/spec/project_io.h"

using namespace moe::spec;

class TestFigures : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // blobs (2 features, 4 classes), d=8; one MoE block: 4 FFN experts h=16, top-2, layernorm.
    void smallTopK() {
        ModelSpec m;
        m.input.dataset = DatasetKind::Blobs;
        m.input.classes = 4;
        m.stem.dModel = 8;
        BlockSpec b;
        b.kind = BlockKind::Moe;
        b.experts = 4;
        b.ffn.hidden = 16;
        b.router.k = 2;
        m.blocks.push_back(b);
        const auto f = computeFigures(m);
        QCOMPARE(f.stemParams, 24LL);            // 2*8 + 8
        QCOMPARE(f.headParams, 52LL);            // LN 2*8 + 8*4 + 4
        QCOMPARE(f.blocks[0].params, 1168LL);    // LN 16 + router 8*4 + 4 experts * (2*8*16 + 16 + 8)
        QCOMPARE(f.blocks[0].activeParams, 608.0);  // 16 + 32 + 2 * 280
        QCOMPARE(f.blocks[0].flopsPerToken, 1088.0);  // router 2*8*4 + 2 * 4*8*16
        QCOMPARE(f.params, 1244LL);
        QCOMPARE(f.activeParams, 684.0);
        QCOMPARE(f.flopsPerToken, 1184.0);       // stem 2*2*8 + head 2*8*4 + block
    }

    // Fashion-MNIST in 14x14 patches (4 tokens of 196), d=4; a dense RMSNorm block (h=8) and an
    // MoE++ block: 2 FFN experts + zero + copy + constant, 1 shared expert, hash router k=1, no norm.
    void moePlusPlusHashPatches() {
        ModelSpec m;
        m.input.dataset = DatasetKind::FashionMnist;
        m.input.tokens = TokenMode::Patches;
        m.input.patch = 14;
        m.stem.dModel = 4;
        m.head.norm = NormKind::None;
        BlockSpec d;
        d.kind = BlockKind::Dense;
        d.norm = NormKind::RmsNorm;
        d.ffn.hidden = 8;
        BlockSpec b;
        b.kind = BlockKind::Moe;
        b.norm = NormKind::None;
        b.experts = 2;
        b.zeroExperts = {1, 1, 1};
        b.sharedExperts = 1;
        b.ffn.hidden = 8;
        b.router.kind = RouterKind::Hash;
        b.router.k = 1;
        m.blocks = {d, b};
        const auto f = computeFigures(m);
        QCOMPARE(m.input.tokensPerSample(), 4);
        QCOMPARE(m.input.tokenDim(), 196);
        QCOMPARE(f.stemParams, 788LL);           // 196*4 + 4
        QCOMPARE(f.headParams, 50LL);            // 4*10 + 10
        QCOMPARE(f.blocks[0].params, 80LL);      // RMS 4 + (2*4*8 + 8 + 4)
        QCOMPARE(f.blocks[0].flopsPerToken, 128.0);  // 4*4*8
        QCOMPARE(f.blocks[1].params, 242LL);     // (2 + 1 shared) * 76 + constant (3*4 + 2)
        // shared 76 + k * (2/5 * 76 + 1/5 * 14)
        QVERIFY(qFuzzyCompare(f.blocks[1].activeParams, 109.2));
        // shared 128 + k * (2/5 * 128 + 1/5 * 2*4*2)
        QVERIFY(qFuzzyCompare(f.blocks[1].flopsPerToken, 182.4));
        QCOMPARE(f.params, 1160LL);
        QVERIFY(qFuzzyCompare(f.activeParams, 1027.2));
        QVERIFY(qFuzzyCompare(f.flopsPerToken, 1898.4));  // stem 1568 + head 80/4 + 128 + 182.4
    }

    void expectedK() {
        ModelSpec m;
        m.stem.dModel = 8;
        BlockSpec b;
        b.experts = 8;
        b.router.kind = RouterKind::ExpertChoice;
        b.router.capacityFactor = 2.0;
        m.blocks = {b};
        QCOMPARE(moe::spec::expectedK(m, 0), 2.0);
        m.blocks[0].router.kind = RouterKind::Dynamic;
        m.blocks[0].router.maxExperts = 3;
        QCOMPARE(moe::spec::expectedK(m, 0), 3.0);
    }

    void scheduleResolvesExperts() {
        auto p = loadProject(MOE_SOURCE_DIR "/projects/fashion_descending.json");
        QVERIFY2(p.ok(), p.message().c_str());
        QCOMPARE(p->model.expertsOf(0), 16);
        QCOMPARE(p->model.expertsOf(1), 12);
        QCOMPARE(p->model.expertsOf(2), 8);
        QCOMPARE(p->model.expertsOf(3), 4);
        QCOMPARE(p->model.kOf(3), 2);
    }

    void weightMemory() {
        QCOMPARE(bytesPerElement("fp32"), 4.0);
        QCOMPARE(bytesPerElement("bf16"), 2.0);
        QCOMPARE(bytesPerElement("fp8"), 1.0);
        QCOMPARE(bytesPerElement("int3"), 0.0);
    }
};

QTEST_APPLESS_MAIN(TestFigures)
#include "tst_figures.moc"
