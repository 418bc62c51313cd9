// Memory per GPU against Megatron-LM's theoretical-memory formulas (two cases worked by hand), the
// whole-model step time's structure (pipeline bubbles, recomputation, ZeRO), the layout planner,
// and bad layouts with messages naming the field and what would be valid.
#include <QtTest>

#include <cmath>
#include <fstream>

#include "moe/cluster/plan.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/run_store.h"

using namespace moe::cluster;
namespace spec = moe::spec;

namespace {

const Catalog& cat() {
    static const Catalog c = Catalog::builtin().value();
    return c;
}

ResolvedCluster h100() { return cat().resolve("hgx-h100", "x").value(); }

spec::Project load(const char* name) {
    auto p = spec::loadProject(std::string(MOE_SOURCE_DIR) + "/tests/data/cluster/" + name);
    if (!p) qFatal("%s", p.message().c_str());
    return p.value();
}

// A dense GPT as Megatron-LM's formulas describe it: MHA, LayerNorm, GeLU FFN, no biases, untied
// embedding and output layer, rotary positions (no position table).
spec::ModelSpec denseGpt() {
    spec::ModelSpec m;
    m.input.dataset = spec::DatasetKind::Text;
    m.input.seqLen = 2048;
    m.stem.kind = spec::StemKind::Embedding;
    m.stem.vocab = 50304;
    m.stem.dModel = 4096;
    m.stem.positions = spec::PositionKind::Rope;
    m.head.norm = spec::NormKind::LayerNorm;
    spec::BlockSpec att;
    att.kind = spec::BlockKind::Attention;
    att.norm = spec::NormKind::LayerNorm;
    att.attention.kind = spec::AttentionKind::Mha;
    att.attention.heads = 32;
    att.attention.kvHeads = 32;
    spec::BlockSpec ffn;
    ffn.kind = spec::BlockKind::Dense;
    ffn.norm = spec::NormKind::LayerNorm;
    ffn.ffn.hidden = 16384;
    ffn.ffn.activation = spec::Activation::Gelu;
    ffn.ffn.bias = false;
    spec::BlockSpec g;
    g.kind = spec::BlockKind::Group;
    g.repeat = 32;
    g.children = {att, ffn};
    m.blocks = {g};
    return m;
}

Layout layout(const ModelShape& s, int gpus, int tp, int pp, int vpp, int zero, int globalBatch) {
    Layout l;
    l.gpus = gpus;
    l.tp = tp;
    l.pp = pp;
    l.vpp = vpp;
    l.dp = gpus / (tp * pp);
    l.ep = 1;
    l.etp = 1;
    l.edp = gpus / pp;
    l.seqLen = s.seqLen;
    l.globalBatch = globalBatch;
    l.microBatches = globalBatch / l.dp;
    l.zero = zero;
    l.stageUnits = splitStages(s.units(), pp, vpp, 0, 0);
    return l;
}

bool near(double a, double b, double rel) { return std::fabs(a - b) <= rel * std::fabs(b); }

}  // namespace

class TstCost : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // Megatron-LM megatron/training/theoretical_memory_usage.py, by hand for the GPT above:
    // h = 4096, a = 32, L = 32, f = 16384, V = 50304, s = 2048, b = 1.
    //   per layer: 2h(f + 2) + 4h^2 = 201,342,976; block: 32 x that + 2h = 6,442,983,424
    //   embedding: hV = 206,045,184
    // Case A: tp 8, pp 1, dp 4, plain data parallel (18 bytes per parameter), sequence parallel,
    // Megatron's "selective" formula (with flash attention: no recomputation here).
    //   most loaded shard (untied, pp 1): (block + 2 x embedding) / 8 = 856,884,224 params
    //   weights and optimizer: x 18 = 15,423,916,032 bytes
    //   activations: [34 sbh x 32 + 8sb + sbh + 4sbh(1 + V/h)] / 8
    //     = (9,126,805,504 + 16,384 + 8,388,608 + 445,644,800) / 8 = 1,197,606,912 bytes
    // Case B: tp 4, pp 4, vpp 2, dp 4, distributed optimizer (6 + 12/4 = 9 bytes per parameter).
    //   most loaded shard: (block / 4 + embedding) / 4 = 454,197,760 params -> 4,087,779,840 bytes
    //   activations: (34 sbh x 32 + 8sb x 4 + sbh x 4) x (1 + 3 / 8) / 4 = 3,148,896,256 bytes
    // (This model puts the final norm on the last stage where Megatron spreads it over all: 512
    // parameters of difference in case B, hence the 1e-5 tolerance on weights.)
    void memoryEqualsMegatronPlainDp() {
        const ModelShape s = shapeOf(denseGpt());
        QCOMPARE(s.units(), 32);
        Layout l = layout(s, 32, 8, 1, 1, 0, 4);
        l.recompute = Recompute::None;  // flash attention: what Megatron calls selective
        const MemoryBreakdown m = estimateMemory(s, l, *h100().gpu);
        QCOMPARE(m.weights + m.gradients + m.optimizer, 15423916032.0);
        QCOMPARE(m.activations, 1197606912.0);
    }
    void memoryEqualsMegatronDistributedOptimizerInterleaved() {
        const ModelShape s = shapeOf(denseGpt());
        Layout l = layout(s, 64, 4, 4, 2, 1, 64);
        l.recompute = Recompute::None;
        QCOMPARE(l.dp, 4);
        const MemoryBreakdown m = estimateMemory(s, l, *h100().gpu);
        QCOMPARE(m.stage, 0);
        QVERIFY2(near(m.weights + m.gradients + m.optimizer, 4087779840.0, 1e-5), std::to_string(m.weights + m.gradients + m.optimizer).c_str());
        QCOMPARE(m.activations, 3148896256.0);
        QCOMPARE(m.inFlight, 5.5);
    }
    // Beyond Megatron's formulas: ZeRO stages, expert sharding over edp, full recomputation.
    void zeroStagesAndExpertSharding() {
        const spec::Project p = load("mixtral_8x7b.json");
        const ModelShape s = shapeOf(p.model, 4096);
        Layout l = layoutFromDeployment(*p.deployment, s, h100()).value();
        QCOMPARE(l.dp, 16);  // 64 / (tp 1 x pp 4)
        QCOMPARE(l.edp, 2);  // 64 / (ep 8 x pp 4)
        double last = 1e300;
        for (int z = 0; z <= 3; ++z) {
            l.zero = z;
            const MemoryBreakdown m = estimateMemory(s, l, *h100().gpu);
            QVERIFY(m.total < last);
            last = m.total;
            // Optimizer states: dense over dp x cp = 16, experts over edp = 2 from ZeRO-1 on.
            const double opt = m.denseParams * 12 / (z >= 1 ? 16 : 1) + m.expertParams * 12 / (z >= 1 ? 2 : 1);
            QVERIFY(near(m.optimizer, opt, 1e-12));
        }
        l.zero = 1;
        const double selective = estimateMemory(s, l, *h100().gpu).activations;
        l.recompute = Recompute::Full;
        const double full = estimateMemory(s, l, *h100().gpu).activations;
        l.recompute = Recompute::None;
        const double none = estimateMemory(s, l, *h100().gpu).activations;
        QVERIFY(full < selective);
        QVERIFY(none > selective);
    }
    void deepSeekV3DoesNotFitOnFewGpus() {
        const spec::Project p = load("deepseek_v3.json");
        const ModelShape s = shapeOf(p.model, 4096);
        QCOMPARE(s.units(), 61);
        QCOMPARE(s.moeLayers, 58);
        // 671B parameters (DeepSeek-V3 report, without the MTP module) within 0.5%.
        QVERIFY2(near(double(s.figures.params), 671e9, 0.005), std::to_string(s.figures.params).c_str());
        spec::DeploymentSpec d = *p.deployment;
        d.gpus = 64;
        d.ep = 64;
        d.pp = 1;
        d.firstStageLayers = d.lastStageLayers = 0;
        d.globalBatch = 64;
        auto l = layoutFromDeployment(d, s, h100());
        QVERIFY2(l.ok(), l.message().c_str());
        const MemoryBreakdown m = estimateMemory(s, l.value(), *h100().gpu);
        QVERIFY(!m.fits);
        QVERIFY(m.weights + m.gradients + m.optimizer > 80.0 * (1 << 30));
        // The report's layout (PP 16, EP 64, ZeRO-1 over 2048 GPUs) fits in 80 GiB with full
        // recomputation; keeping every bf16 activation of 15 in-flight micro-batches does not
        // (DeepSeek caches some in FP8 and recomputes norms and MLA up-projections).
        auto r = layoutFromDeployment(*p.deployment, s, h100());
        QVERIFY2(r.ok(), r.message().c_str());
        QVERIFY(r->recompute == Recompute::Full);
        QVERIFY(estimateMemory(s, r.value(), *h100().gpu).fits);
        r->recompute = Recompute::Selective;
        QVERIFY(!estimateMemory(s, r.value(), *h100().gpu).fits);
    }
    void kvCacheForInference() {
        const spec::Project p = load("mixtral_8x7b.json");
        const ModelShape s = shapeOf(p.model, 4096);
        Layout l = layoutFromDeployment(*p.deployment, s, h100()).value();
        l.pp = 1;
        l.stageUnits = splitStages(s.units(), 1, 1, 0, 0);
        const MemoryBreakdown m = estimateMemory(s, l, *h100().gpu, true);
        // 32 layers x 2 x 8 kv heads x 128 x 4096 tokens x 2 bytes = 512 MiB (tp 1).
        QCOMPARE(m.kvCache, 32.0 * 2 * 8 * 128 * 4096 * 2);
        QCOMPARE(m.gradients + m.optimizer, 0.0);
    }

    void stepStructure() {
        const spec::Project p = load("mixtral_8x7b.json");
        const ModelShape s = shapeOf(p.model, 4096);
        auto loads = modelLoads(s, "uniform", "deployment.routing", "", "deployment.routing_map");
        QVERIFY(loads.ok());
        StepModel model(s, cat(), h100(), loads.value());
        Layout l = layoutFromDeployment(*p.deployment, s, h100()).value();
        QCOMPARE(l.microBatches, 16);
        auto a = model.price(l).value();
        // 1F1B: bubble (pp - 1) micro-batch times.
        QVERIFY(near(a.bubbleUs, 3.0 * a.microBatchUs, 1e-9));
        QVERIFY(a.epCommUs > 0);
        QVERIFY(a.tokensPerGpuPerSec > 0 && a.mfu > 0 && a.mfu < 1);
        // Interleaving divides the bubble by vpp.
        l.vpp = 2;
        l.stageUnits = splitStages(s.units(), 4, 2, 0, 0);
        auto b = model.price(l).value();
        QVERIFY(near(b.bubbleUs, 1.5 * b.microBatchUs, 1e-9));
        QVERIFY(b.stepUs < a.stepUs);
        // Full recomputation repeats the forward.
        l.recompute = Recompute::Full;
        auto c = model.price(l).value();
        QVERIFY(c.recomputeUs > 0.4 * c.computeUs / 3.0);
        QVERIFY(c.stepUs > b.stepUs);
        // Overlapping the all-to-all with another micro-batch's compute exposes less of it.
        l.epOverlap = true;
        auto o = model.price(l).value();
        QVERIFY(o.epCommUs >= 0 && o.epCommUs < c.epCommUs);
        QVERIFY(o.stepUs < c.stepUs);
        l.epOverlap = false;
        // Skewed routing makes a straggler expert rank: slower experts.
        auto skew = modelLoads(s, "zipf:1.5", "deployment.routing", "", "deployment.routing_map");
        StepModel skewed(s, cat(), h100(), skew.value());
        l.recompute = Recompute::Selective;
        auto d = skewed.price(l).value();
        QVERIFY(d.moeImbalance > 1.2);
        QVERIFY(d.stepUs > b.stepUs);
    }

    // With the all-to-all hidden behind another micro-batch's compute, that compute runs on the
    // SMs the EP kernel leaves; without the overlap, or with a kernel holding none, nothing changes.
    void epKernelComputeUnitsSlowOverlappedCompute() {
        const spec::Project p = load("mixtral_8x7b.json");
        const ModelShape s = shapeOf(p.model, 4096);
        auto loads = modelLoads(s, "uniform", "deployment.routing", "", "deployment.routing_map").value();
        const EpKernelSpec* normal = cat().epKernel("deepep-normal");
        EpKernelSpec none = *normal;
        none.computeUnits = 0;
        StepModel m20(s, cat(), h100(), loads, 0.0, false, normal), m0(s, cat(), h100(), loads, 0.0, false, &none);
        Layout l = layoutFromDeployment(*p.deployment, s, h100()).value();
        QCOMPARE(m20.price(l)->stepUs, m0.price(l)->stepUs);  // nothing overlaps the kernel
        QCOMPARE(m20.price(l)->epKernelSlowdownUs, 0.0);
        l.epOverlap = true;
        const auto a0 = m0.price(l).value(), a20 = m20.price(l).value();
        QCOMPARE(a0.epKernelSlowdownUs, 0.0);
        QVERIFY(a20.epKernelSlowdownUs > 0);
        QVERIFY(a20.epKernelSlowdownUs <= (132.0 / 112.0 - 1) * a20.computeUs * (1 + 1e-9));
        QCOMPARE(a20.computeUs, a0.computeUs);
        QVERIFY(a20.epCommUs <= a0.epCommUs);
        QVERIFY(a20.stepUs > a0.stepUs);
        bool listed = false;
        for (const auto& [name, us] : a20.parts()) listed = listed || (name == "compute beside EP kernels" && us == a20.epKernelSlowdownUs);
        QVERIFY(listed);
    }

    // Published training throughputs (tests/data/cluster/published_throughput.json, with sources):
    // the simulator's error on each is recorded there and must not drift unnoticed.
    void publishedThroughputs() {
        std::ifstream in(std::string(MOE_SOURCE_DIR) + "/tests/data/cluster/published_throughput.json");
        const auto j = nlohmann::json::parse(in);
        QVERIFY(j["cases"].size() >= 3);
        for (const auto& c : j["cases"]) {
            std::ifstream pf(std::string(MOE_SOURCE_DIR) + "/tests/data/cluster/" + c["project"].get<std::string>());
            nlohmann::json pj = nlohmann::json::parse(pf);
            pj["deployment"].merge_patch(c["deployment_patch"]);
            auto p = spec::parseProject(pj.dump(), c["project"].get<std::string>());
            QVERIFY2(p.ok(), p.message().c_str());
            auto cost = costProjectLayout(p.value(), cat(), PlanOptions{});
            QVERIFY2(cost.ok(), cost.message().c_str());
            QVERIFY(cost->memory.fits);
            const auto& pub = c["published"];
            const double error = pub.contains("step_s") ? cost->step.stepUs * 1e-6 / pub["step_s"].get<double>() - 1.0
                                                        : cost->step.tokensPerGpuPerSec / pub["tokens_per_gpu_per_s"].get<double>() - 1.0;
            qInfo("%s: error %+.1f%%", c["name"].get<std::string>().c_str(), 100.0 * error);
            QVERIFY2(std::fabs(error - c["predicted_error"].get<double>()) < 0.03,
                     (c["name"].get<std::string>() + ": error " + std::to_string(error) + ", recorded " + c["predicted_error"].dump()).c_str());
        }
    }

    void planRanksFittingLayouts() {
        spec::Project p = load("mixtral_8x7b.json");
        PlanOptions o;
        o.gpus = 64;
        o.top = 5;
        o.microBatches = {1, 2};
        auto r = planLayouts(p, cat(), o);
        QVERIFY2(r.ok(), r.message().c_str());
        QVERIFY(r->enumerated > r->fitting);
        QVERIFY(!r->rows.empty());
        for (size_t i = 0; i < r->rows.size(); ++i) {
            QVERIFY(r->rows[i].memory.fits);
            QVERIFY(!r->rows[i].reason.empty());
            QVERIFY(checkLayout(r->rows[i].layout, shapeOf(p.model, 4096), h100()).empty());
            if (i > 0) QVERIFY(r->rows[i].step.stepUs >= r->rows[i - 1].step.stepUs);
        }
        QVERIFY(r->rows[0].reason.find("beats #2") != std::string::npos);
        // Applying the best row and costing the project gives the same step.
        applyLayout(r->rows[0].layout, *p.deployment);
        auto c = costProjectLayout(p, cat(), PlanOptions{});
        QVERIFY2(c.ok(), c.message().c_str());
        QVERIFY(near(c->step.stepUs, r->rows[0].step.stepUs, 1e-9));
    }

    void badLayoutsNameTheFieldAndWhatIsValid() {
        const spec::Project q = load("qwen3_235b_a22b.json");
        const ModelShape s = shapeOf(q.model, 4096);
        auto first = [](const spec::Diagnostics& e, const std::string& path) {
            for (const auto& d : e)
                if (d.path == path) return d.message;
            return std::string();
        };
        spec::DeploymentSpec d = *q.deployment;
        d.tp = 8;  // 4 key/value heads
        auto e = layoutFromDeployment(d, s, h100());
        QVERIFY(!e.ok());
        QVERIFY2(first(e.errors(), "deployment.parallel.tp").find("valid: 1, 2, 4") != std::string::npos, e.message().c_str());
        d = *q.deployment;
        d.ep = 48;
        e = layoutFromDeployment(d, s, h100());
        QVERIFY2(first(e.errors(), "deployment.parallel.ep").find("valid: 1, 2, 4, 8, 16, 32, 64, 128") != std::string::npos, e.message().c_str());
        d = *q.deployment;
        d.firstStageLayers = d.lastStageLayers = 0;  // 94 layers over 8 stages
        e = layoutFromDeployment(d, s, h100());
        QVERIFY2(first(e.errors(), "deployment.parallel.pp").find("valid pp: 1, 2, 47, 94") != std::string::npos, e.message().c_str());
        d = *q.deployment;
        e = layoutFromDeployment(d, s, h100(), 1 << 20);
        QVERIFY(!first(e.errors(), "--gpus").empty());
        d.globalBatch = 100;
        e = layoutFromDeployment(d, s, h100());
        QVERIFY(first(e.errors(), "deployment.global_batch").find("multiple of") != std::string::npos);
    }

    void recordedRunWithOtherDepthNeedsAnExplicitMap() {
        QTemporaryDir dir;
        const std::string path = dir.filePath("run.sqlite").toStdString();
        {
            moe::telemetry::RunInfo info;
            info.runId = "twin";
            auto w = moe::telemetry::RunWriter::create(path, info);
            QVERIFY(w.ok());
            auto snap = std::make_shared<moe::telemetry::RoutingSnapshot>();
            snap->step = 5;
            for (int b = 0; b < 3; ++b) {
                moe::telemetry::BlockSnapshot bs;
                bs.block = b;
                bs.experts = bs.ffnExperts = 8;
                bs.tokensPerExpert.assign(8, 1.0);
                bs.tokensPerExpert[static_cast<size_t>(b)] = 9.0;  // a different hot expert per layer
                snap->blocks.push_back(bs);
            }
            w.value()->append(snap);
            w.value()->finish("finished");
        }
        const ModelShape s = shapeOf(load("mixtral_8x7b.json").model, 4096);  // 32 MoE layers
        auto none = modelLoads(s, path, "deployment.routing", "", "deployment.routing_map");
        QVERIFY(!none.ok());
        QCOMPARE(QString::fromStdString(none.errors()[0].path), QString("deployment.routing_map"));
        QVERIFY(none.errors()[0].message.find("recorded 3 MoE layer(s) but the model has 32") != std::string::npos);
        std::string note;
        auto tile = modelLoads(s, path, "deployment.routing", "tile", "deployment.routing_map", &note);
        QVERIFY2(tile.ok(), tile.message().c_str());
        QCOMPARE(static_cast<int>(tile->size()), 32);
        QCOMPARE(tile.value()[3], tile.value()[0]);
        QVERIFY(note.find("tiled") != std::string::npos);
        auto interp = modelLoads(s, path, "deployment.routing", "interpolate", "deployment.routing_map", &note);
        QVERIFY(interp.ok());
        QCOMPARE(interp.value()[0], tile.value()[0]);
        QCOMPARE(interp.value()[31], tile.value()[2]);
        QVERIFY(note.find("interpolated") != std::string::npos);
    }

    void layoutFieldsRoundTripAndBadValuesNameTheirPlace() {
        spec::Project p = load("deepseek_v3.json");
        const std::string text = spec::serializeProject(p);
        auto back = spec::parseProject(text, "x.json");
        QVERIFY2(back.ok(), back.message().c_str());
        QCOMPARE(back->deployment->pp, 16);
        QCOMPARE(back->deployment->firstStageLayers, 3);
        QCOMPARE(back->deployment->globalBatch, 15360);
        QCOMPARE(back->deployment->recompute, std::string("full"));
        std::string bad = text;
        const auto at = bad.find("\"recompute\": \"full\"");
        QVERIFY(at != std::string::npos);
        bad.replace(at, 19, "\"recompute\": \"partial\"");
        auto e = spec::parseProject(bad, "x.json");
        QVERIFY(!e.ok());
        const auto& d = e.errors()[0];
        QCOMPARE(QString::fromStdString(d.path), QString("deployment.recompute"));
        QVERIFY(d.line > 0);
        QVERIFY2(d.message.find("none, selective or full") != std::string::npos, d.message.c_str());
        // Layout values that contradict each other are found on load, with line:column.
        std::string vpp = text;
        const auto pp = vpp.find("\"pp\": 16");
        QVERIFY(pp != std::string::npos);
        vpp.replace(pp, 8, "\"pp\": 16, \"vpp\": 2");
        auto ev = spec::parseProject(vpp, "x.json");
        QVERIFY(!ev.ok());
        QCOMPARE(QString::fromStdString(ev.errors()[0].path), QString("deployment.parallel.first_stage_layers"));
        QVERIFY(ev.errors()[0].line > 0);
    }
};

QTEST_GUILESS_MAIN(TstCost)
#include "tst_cost.moc"
