// Layer groups: expansion into the flattened model, first_dense, origins, schedules across the
// MoE layers of the expanded model, and the project round trip.
#include <QtTest>

#include "moe/spec/derived.h"
#include "moe/spec/project_io.h"
#include "moe/spec/validate.h"

using namespace moe::spec;

namespace {

BlockSpec attention() {
    BlockSpec a;
    a.kind = BlockKind::Attention;
    a.norm = NormKind::RmsNorm;
    a.attention.kind = AttentionKind::Gqa;
    a.attention.heads = 4;
    a.attention.kvHeads = 2;
    return a;
}

// dense, then a group of 4 x (attention, moe) with the first repeat dense, then a dense block.
ModelSpec grouped() {
    ModelSpec m;
    m.input.dataset = DatasetKind::Text;
    m.input.seqLen = 16;
    m.stem.kind = StemKind::Embedding;
    m.stem.dModel = 16;
    m.stem.positions = PositionKind::Rope;
    BlockSpec dense;
    dense.kind = BlockKind::Dense;
    dense.label = "in";
    BlockSpec moe;
    moe.label = "experts";
    moe.ffn = {8, Activation::Swiglu, false};
    BlockSpec g;
    g.kind = BlockKind::Group;
    g.label = "layer";
    g.repeat = 4;
    g.firstDense = 1;
    g.denseFfn = {48, Activation::Swiglu, false};
    g.children = {attention(), moe};
    m.blocks = {dense, g, dense};
    m.expertSchedule = Schedule{ScheduleKind::Descending, 4, 16, 4, {}};
    return m;
}

}  // namespace

class TestGroups : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void expansion() {
        const ModelSpec m = grouped();
        QVERIFY(m.hasGroups());
        const ModelSpec flat = m.flattened();
        QVERIFY(!flat.hasGroups());
        QCOMPARE(m.layerCount(), 10);
        QCOMPARE(int(flat.blocks.size()), 10);
        const BlockKind kinds[] = {BlockKind::Dense, BlockKind::Attention, BlockKind::Dense, BlockKind::Attention, BlockKind::Moe,
                                   BlockKind::Attention, BlockKind::Moe, BlockKind::Attention, BlockKind::Moe, BlockKind::Dense};
        for (int i = 0; i < 10; ++i) QVERIFY(flat.blocks[size_t(i)].kind == kinds[i]);
        // The first repeat's moe became a dense layer with the group's dense_ffn, keeping its label.
        QCOMPARE(flat.blocks[2].ffn.hidden, 48);
        QCOMPARE(flat.blocks[2].label, std::string("experts"));
        QCOMPARE(flat.blocks[4].ffn.hidden, 8);
        const auto origins = m.layerOrigins();
        QCOMPARE(int(origins.size()), 10);
        const int expect[][3] = {{0, 0, -1}, {1, 0, 0}, {1, 0, 1}, {1, 1, 0}, {1, 1, 1}, {1, 2, 0}, {1, 2, 1}, {1, 3, 0}, {1, 3, 1}, {2, 0, -1}};
        for (int i = 0; i < 10; ++i) {
            QCOMPARE(origins[size_t(i)].block, expect[i][0]);
            QCOMPARE(origins[size_t(i)].repeat, expect[i][1]);
            QCOMPARE(origins[size_t(i)].child, expect[i][2]);
        }
    }

    // The experts schedule runs over the 3 MoE layers of the expanded model: 16, 10, 4.
    void schedulesOverExpandedLayers() {
        const ModelSpec m = grouped();
        QCOMPARE(m.moeBlockCount(), 3);
        QCOMPARE(m.moeIndex(2), -1);
        QCOMPARE(m.moeIndex(4), 0);
        QCOMPARE(m.moeIndex(8), 2);
        QCOMPARE(m.expertsOf(4), 16);
        QCOMPARE(m.expertsOf(6), 10);
        QCOMPARE(m.expertsOf(8), 4);
        QCOMPARE(m.kOf(6), kDefaultK);
        const auto f = computeFigures(m);
        QCOMPARE(f.blocks[6].experts, 10);
        QCOMPARE(f.authored(1).experts, 30);
        QCOMPARE(f.authored(1).layers, 8);
        QVERIFY(f.authored(0).kind == BlockKind::Dense);
        QVERIFY2(validateModel(m).empty(), formatAll(validateModel(m)).c_str());
    }

    void roundTrip() {
        Project p;
        p.model = grouped();
        p.model.blocks[1].children[1].router.kind = RouterKind::SigmoidBias;
        p.model.blocks[1].children[1].router.k = 2;
        p.model.blocks[1].children[1].router.groups = 2;
        p.model.blocks[1].children[1].router.topkGroups = 1;
        p.model.blocks[1].children[1].losses.aux = 0;
        p.model.head.tied = true;
        p.training.steps = 10;
        const std::string text = serializeProject(p);
        auto back = parseProject(text, "grouped");
        QVERIFY2(back.ok(), back.message().c_str());
        QCOMPARE(QString::fromStdString(serializeProject(back.value())), QString::fromStdString(text));
        const BlockSpec& g = back->model.blocks[1];
        QVERIFY(g.kind == BlockKind::Group);
        QCOMPARE(g.repeat, 4);
        QCOMPARE(g.firstDense, 1);
        QCOMPARE(g.denseFfn.hidden, 48);
        QCOMPARE(g.children[0].attention.kvHeads, 2);
        QCOMPARE(g.children[1].router.groups, 2);
        QCOMPARE(g.children[1].ffn.bias, false);
        QVERIFY(back->model.head.tied);
        QVERIFY(back->model.stem.kind == StemKind::Embedding);
        // A gated FFN's bias is written only when asked for; a plain one's only when turned off.
        QVERIFY(text.find("\"bias\": true") == std::string::npos);
    }

    // Errors inside a group name the path inside the group, once however many repeats there are.
    void errorsNameThePathInTheGroup() {
        ModelSpec m = grouped();
        m.blocks[1].children[0].attention.heads = 3;  // 16 does not split into 3 heads; 2 kv heads do not divide 3
        m.blocks[1].children[1].router.k = 20;
        auto d = validateModel(m);
        QVERIFY(!d.empty());
        QCOMPARE(QString::fromStdString(d[0].path), QString("model.blocks[1].blocks[0].kv_heads"));
        m.blocks[1].children[0].attention.heads = 4;
        d = validateModel(m);
        QCOMPARE(int(d.size()), 1);
        QCOMPARE(QString::fromStdString(d[0].path), QString("model.blocks[1].blocks[1].router.k"));
        QVERIFY2(d[0].message.find("20 exceeds the 16 experts") != std::string::npos, d[0].message.c_str());
    }

    // The Mixtral-like and DeepSeek-like miniatures validate and give the layer counts they claim.
    void miniatures() {
        auto mix = loadProject(MOE_SOURCE_DIR "/tests/data/spec/mixtral_mini.json");
        QVERIFY2(mix.ok(), mix.message().c_str());
        QCOMPARE(mix->model.layerCount(), 8);
        QCOMPARE(mix->model.moeBlockCount(), 4);
        auto ds = loadProject(MOE_SOURCE_DIR "/tests/data/spec/deepseek_mini.json");
        QVERIFY2(ds.ok(), ds.message().c_str());
        QCOMPARE(ds->model.layerCount(), 8);
        QCOMPARE(ds->model.moeBlockCount(), 3);
        QCOMPARE(ds->model.flattened().blocks[1].ffn.hidden, 192);
        const auto f = computeFigures(ds->model);
        QCOMPARE(f.blocks[0].kvCachePerToken, 40LL);  // kv_lora 32 + rope 8
    }
};

QTEST_APPLESS_MAIN(TestGroups)
#include "tst_groups.moc"
