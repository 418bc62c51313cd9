// Exports of a project plus its layout: every Megatron flag and DeepSpeed key written is one those
// projects define (lists with their sources in core/cluster/export_names/), and the values carry
// the model and the layout.
#include <QtTest>

#include <algorithm>
#include <fstream>
#include <set>

#include "moe/cluster/export.h"
#include "moe/cluster/plan.h"
#include "moe/spec/project_io.h"

using namespace moe::cluster;
namespace spec = moe::spec;

namespace {

const Catalog& cat() {
    static const Catalog c = Catalog::builtin().value();
    return c;
}

std::set<std::string> names(const char* file) {
    std::ifstream in(std::string(MOE_SOURCE_DIR) + "/core/cluster/export_names/" + file);
    std::set<std::string> s;
    for (std::string line; std::getline(in, line);)
        if (!line.empty() && line[0] != '#') s.insert(line);
    return s;
}

ProjectLayout layoutOf(const char* name, spec::Project* out = nullptr) {
    auto p = spec::loadProject(std::string(MOE_SOURCE_DIR) + "/tests/data/cluster/" + name);
    if (!p) qFatal("%s", p.message().c_str());
    if (out) *out = p.value();
    auto l = projectLayout(p.value(), cat(), PlanOptions{});
    if (!l) qFatal("%s", l.message().c_str());
    return l.value();
}

// The value after `flag`, or "<absent>".
std::string value(const std::vector<std::string>& args, const std::string& flag) {
    auto it = std::find(args.begin(), args.end(), flag);
    if (it == args.end()) return "<absent>";
    return it + 1 != args.end() ? *(it + 1) : "";
}

}  // namespace

class TstExport : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void namesListsAreThere() {
        const auto flags = names("megatron_lm_flags.txt");
        QVERIFY(flags.size() > 400);
        QVERIFY(flags.count("--expert-model-parallel-size"));
        QVERIFY(!flags.count("--experts-per-gpu"));  // the check can fail
        QVERIFY(names("deepspeed_config_keys.txt").count("zero_optimization.stage"));
    }
    void megatronFlagsAreMegatronsAndCarryTheModel() {
        const auto flags = names("megatron_lm_flags.txt");
        for (const char* f : {"deepseek_v3.json", "mixtral_8x7b.json", "qwen3_235b_a22b.json"}) {
            spec::Project p;
            const ProjectLayout pl = layoutOf(f, &p);
            auto e = exportMegatron(pl.shape, p.training, pl.layout);
            QVERIFY2(e.ok(), e.message().c_str());
            for (const auto& a : e->args)
                if (a.rfind("--", 0) == 0) QVERIFY2(flags.count(a), (std::string(f) + ": " + a + " is not a Megatron-LM flag").c_str());
        }
        spec::Project p;
        const ProjectLayout ds = layoutOf("deepseek_v3.json", &p);
        const auto a = exportMegatron(ds.shape, p.training, ds.layout).value().args;
        QCOMPARE(value(a, "--num-layers"), std::string("61"));
        QCOMPARE(value(a, "--hidden-size"), std::string("7168"));
        QCOMPARE(value(a, "--ffn-hidden-size"), std::string("18432"));
        QCOMPARE(value(a, "--num-experts"), std::string("256"));
        QCOMPARE(value(a, "--moe-router-topk"), std::string("8"));
        QCOMPARE(value(a, "--moe-ffn-hidden-size"), std::string("2048"));
        QCOMPARE(value(a, "--moe-shared-expert-intermediate-size"), std::string("2048"));
        QVERIFY(value(a, "--moe-layer-freq").rfind("[0,0,0,1,1", 0) == 0);
        QCOMPARE(value(a, "--moe-router-score-function"), std::string("sigmoid"));
        QCOMPARE(value(a, "--moe-router-num-groups"), std::string("8"));
        QCOMPARE(value(a, "--moe-router-group-topk"), std::string("4"));
        QCOMPARE(value(a, "--kv-lora-rank"), std::string("512"));
        QCOMPARE(value(a, "--pipeline-model-parallel-size"), std::string("16"));
        QCOMPARE(value(a, "--decoder-first-pipeline-num-layers"), std::string("3"));
        QCOMPARE(value(a, "--expert-model-parallel-size"), std::string("64"));
        QCOMPARE(value(a, "--global-batch-size"), std::string("15360"));
        QCOMPARE(value(a, "--recompute-granularity"), std::string("full"));
        QVERIFY(value(a, "--use-distributed-optimizer") != "<absent>");
        const ProjectLayout mx = layoutOf("mixtral_8x7b.json", &p);
        const auto b = exportMegatron(mx.shape, p.training, mx.layout).value().args;
        QCOMPARE(value(b, "--num-query-groups"), std::string("8"));
        std::string allMoe = "[1";
        for (int i = 1; i < 32; ++i) allMoe += ",1";
        QCOMPARE(value(b, "--moe-layer-freq"), allMoe + "]");
        QCOMPARE(value(b, "--moe-router-score-function"), std::string("softmax"));
        QCOMPARE(value(b, "--moe-router-num-groups"), std::string("<absent>"));
    }
    void unsupportedRouterIsAnError() {
        spec::Project p;
        ProjectLayout pl = layoutOf("mixtral_8x7b.json", &p);
        for (auto& b : pl.shape.model.blocks)
            if (b.kind == spec::BlockKind::Moe) b.router.kind = spec::RouterKind::ExpertChoice;
        auto e = exportMegatron(pl.shape, p.training, pl.layout);
        QVERIFY(!e.ok());
        QVERIFY(e.errors()[0].message.find("expert_choice") != std::string::npos);
    }
    void deepSpeedKeysAreDeepSpeeds() {
        const auto keys = names("deepspeed_config_keys.txt");
        for (const char* f : {"deepseek_v3.json", "mixtral_8x7b.json", "qwen3_235b_a22b.json"}) {
            spec::Project p;
            const ProjectLayout pl = layoutOf(f, &p);
            auto e = exportDeepSpeed(pl.shape, p.training, pl.layout);
            QVERIFY2(e.ok(), e.message().c_str());
            for (const auto& k : keyPaths(e->config)) QVERIFY2(keys.count(k), (std::string(f) + ": " + k + " is not a DeepSpeed key").c_str());
            // DeepSpeed checks train_batch_size = micro x accumulation x data-parallel ranks.
            const auto& c = e->config;
            QCOMPARE(c["train_batch_size"].get<int>(), c["train_micro_batch_size_per_gpu"].get<int>() * c["gradient_accumulation_steps"].get<int>() * pl.layout.dp);
            QCOMPARE(c["zero_optimization"]["stage"].get<int>(), pl.layout.zero);
            QVERIFY(!e->notes.empty());
        }
        QVERIFY(keyPaths(nlohmann::ordered_json{{"zero_optimization", {{"stage", 1}}}}) ==
                (std::vector<std::string>{"zero_optimization", "zero_optimization.stage"}));
    }
};

QTEST_GUILESS_MAIN(TstExport)
#include "tst_export.moc"
