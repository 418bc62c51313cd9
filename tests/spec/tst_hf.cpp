// Hugging Face configs in and out, the parameter counts their authors publish, the trainable
// twin, and the migration of older files whose deployment carried the real model size.
#include <QtTest>

#include <cmath>
#include <filesystem>

#include "moe/spec/atomic_file.h"
#include "moe/spec/derived.h"
#include "moe/spec/hf.h"
#include "moe/spec/project_io.h"
#include "moe/spec/twin.h"
#include "moe/spec/validate.h"

using namespace moe::spec;

namespace {

std::string dataFile(const std::string& name) { return std::string(MOE_SOURCE_DIR) + "/tests/data/hf-configs/" + name; }

Result<HfImport> importFile(const std::string& name) {
    std::string text, err;
    if (!readFile(dataFile(name), text, err)) return Diagnostics{{"", err}};
    return importHfConfig(text, name);
}

}  // namespace

class TestHf : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // Every family: the imported model's totals and active counts within 0.5% of the published
    // figures, in the convention its authors use.
    void publishedCounts_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("model");
        QTest::newRow("Mixtral-8x7B") << "mistralai--Mixtral-8x7B-v0.1.json" << "Mixtral-8x7B";
        QTest::newRow("Qwen3-30B-A3B") << "Qwen--Qwen3-30B-A3B.json" << "Qwen3-30B-A3B";
        QTest::newRow("gpt-oss-20b") << "openai--gpt-oss-20b.json" << "gpt-oss-20b";
        QTest::newRow("DeepSeek-V3") << "deepseek-ai--DeepSeek-V3.json" << "DeepSeek-V3";
        QTest::newRow("DeepSeek-V2") << "deepseek-ai--DeepSeek-V2.json" << "DeepSeek-V2";
        QTest::newRow("Kimi-K2") << "moonshotai--Kimi-K2-Instruct.json" << "Kimi-K2";
        QTest::newRow("OLMoE") << "allenai--OLMoE-1B-7B-0924.json" << "OLMoE-1B-7B";
        QTest::newRow("DBRX") << "databricks--dbrx-base.json" << "DBRX";
        QTest::newRow("GLM-4.5") << "zai-org--GLM-4.5.json" << "GLM-4.5";
        QTest::newRow("Qwen1.5-MoE") << "Qwen--Qwen1.5-MoE-A2.7B.json" << "Qwen1.5-MoE-A2.7B";
    }
    void publishedCounts() {
        QFETCH(QString, file);
        QFETCH(QString, model);
        auto r = importFile(file.toStdString());
        QVERIFY2(r.ok(), r.message().c_str());
        const PublishedCounts* pub = findPublished(r->project.model);
        QVERIFY2(pub, "no published entry matches the imported shape");
        QCOMPARE(QString::fromStdString(pub->model), model);
        QCOMPARE(QString::fromStdString(pub->modelType), QString::fromStdString(r->modelType));
        const ModelFigures f = computeFigures(r->project.model);
        const double total = parameterCount(f, pub->totalConvention, false);
        const double active = parameterCount(f, pub->activeConvention, true);
        qInfo("%s: total %.4g (published %.4g, %+.2f%%), active %.4g (published %.4g, %s, %+.2f%%)", pub->model.c_str(), total, pub->total,
              100 * (total - pub->total) / pub->total, active, pub->active, std::string(toString(pub->activeConvention)).c_str(),
              100 * (active - pub->active) / pub->active);
        // Within 0.5%, or within one unit of the published figure's last digit where it is
        // rounded more coarsely than that ("37B", "1T").
        // A published figure that the released config cannot give carries the reason; it must
        // still be within 1%.
        const double tol = pub->discrepancy.empty() ? 0.005 : 0.01;
        if (!pub->discrepancy.empty()) qInfo("%s: %s", pub->model.c_str(), pub->discrepancy.c_str());
        QVERIFY2(std::abs(total - pub->total) <= std::max(tol * pub->total, pub->totalUnit), "total parameters off the published figure");
        QVERIFY2(std::abs(active - pub->active) <= std::max(0.005 * pub->active, pub->activeUnit), "active parameters off the published figure");
    }

    // What each family carries into the spec.
    void familyFeatures() {
        auto ds = importFile("deepseek-ai--DeepSeek-V3.json");
        QVERIFY2(ds.ok(), ds.message().c_str());
        const auto& g = ds->project.model.blocks.at(0);
        QVERIFY(g.kind == BlockKind::Group);
        QCOMPARE(g.repeat, 61);
        QCOMPARE(g.firstDense, 3);
        QVERIFY(g.children.at(0).attention.kind == AttentionKind::Mla);
        QVERIFY(g.children.at(1).router.kind == RouterKind::SigmoidBias);
        QCOMPARE(g.children.at(1).router.groups, 8);
        QCOMPARE(g.children.at(1).router.topkGroups, 4);
        QCOMPARE(g.children.at(1).sharedExperts, 1);
        QVERIFY(!ds->notes.empty());  // the MTP layer left out, said so

        auto oss = importFile("openai--gpt-oss-20b.json");
        QVERIFY2(oss.ok(), oss.message().c_str());
        const auto& pair = oss->project.model.blocks.at(0);
        QCOMPARE(pair.repeat, 12);
        QCOMPARE(pair.children.size(), size_t(4));
        QCOMPARE(pair.children[0].attention.window, 128);
        QCOMPARE(pair.children[2].attention.window, 0);
        QVERIFY(pair.children[0].attention.sinks);
        QVERIFY(pair.children[0].attention.bias);
        QVERIFY(pair.children[1].ffn.bias);

        auto q = importFile("Qwen--Qwen1.5-MoE-A2.7B.json");
        QVERIFY2(q.ok(), q.message().c_str());
        QCOMPARE(q->project.model.blocks.at(0).children.at(1).sharedExperts, 4);  // 5632 = 4 x 1408
    }

    // DeepSeek's moe_layer_freq: decoder layer i has experts when i >= first_k_dense_replace and
    // i % moe_layer_freq == 0. DeepSeek-V2's config with the frequency raised folds into the
    // leading dense layers and one group of the period, and every layer is of the right kind.
    void moeLayerFrequencyFoldsIntoAPeriod_data() {
        QTest::addColumn<int>("freq");
        QTest::addColumn<int>("firstDense");
        QTest::addColumn<int>("groups");
        QTest::newRow("every 2nd, first 1 dense") << 2 << 1 << 2;
        QTest::newRow("every 3rd, first 1 dense") << 3 << 1 << 2;
        QTest::newRow("every 2nd, none dense first") << 2 << 0 << 1;
        QTest::newRow("every 4th, first 3 dense") << 4 << 3 << 2;
    }
    void moeLayerFrequencyFoldsIntoAPeriod() {
        QFETCH(int, freq);
        QFETCH(int, firstDense);
        QFETCH(int, groups);
        std::string text, err;
        QVERIFY2(readFile(dataFile("deepseek-ai--DeepSeek-V2.json"), text, err), err.c_str());
        auto config = nlohmann::ordered_json::parse(text);
        config["moe_layer_freq"] = freq;
        config["first_k_dense_replace"] = firstDense;
        const int n = config["num_hidden_layers"].get<int>();
        const auto r = importHfConfig(config.dump(), "deepseek-v2-freq.json");
        QVERIFY2(r.ok(), r.message().c_str());
        const ModelSpec& m = r->project.model;
        QCOMPARE(static_cast<int>(m.blocks.size()), groups);
        QCOMPARE(m.blocks.back().children.size(), size_t(2 * freq));
        const ModelSpec flat = m.flattened();
        QCOMPARE(flat.layerCount(), 2 * n);  // an attention and an FFN layer per decoder layer
        int moe = 0;
        for (int i = 0; i < n; ++i) {
            const bool expected = i >= firstDense && i % freq == 0;
            QVERIFY2(flat.blocks[static_cast<size_t>(2 * i)].kind == BlockKind::Attention, qPrintable(QString::number(i)));
            QVERIFY2((flat.blocks[static_cast<size_t>(2 * i + 1)].kind == BlockKind::Moe) == expected, qPrintable(QString::number(i)));
            moe += expected ? 1 : 0;
        }
        QCOMPARE(flat.moeBlockCount(), moe);
        QVERIFY2(validateProject(r->project).empty(), formatAll(validateProject(r->project)).c_str());
        const auto back = parseProject(serializeProject(r->project));
        QVERIFY2(back.ok(), back.message().c_str());
        QCOMPARE(back->model.flattened().moeBlockCount(), moe);
    }

    void badConfigsNameTheField_data() {
        QTest::addColumn<QString>("text");
        QTest::addColumn<QString>("expected");
        QTest::newRow("unknown family") << R"({"model_type": "llama", "hidden_size": 64})"
                                        << "model_type: \"llama\" is not a family this importer reads; it reads mixtral, qwen2_moe";
        QTest::newRow("no family") << R"({"hidden_size": 64})" << "model_type: missing";
        QTest::newRow("missing field") << R"({"model_type": "mixtral", "hidden_size": 64, "vocab_size": 100, "num_attention_heads": 4,
                                             "num_local_experts": 8, "intermediate_size": 32, "num_hidden_layers": 2})"
                                       << "num_experts_per_tok: missing; a mixtral config gives it";
        QTest::newRow("wrong type") << R"({"model_type": "olmoe", "hidden_size": "big"})" << "hidden_size: expected a whole number";
        QTest::newRow("nested") << R"({"model_type": "dbrx", "d_model": 64, "n_heads": 4, "n_layers": 2, "vocab_size": 300,
                                      "attn_config": {"kv_n_heads": 2}, "ffn_config": {"moe_num_experts": 4, "moe_top_k": 2}})"
                                << "ffn_config.ffn_hidden_size: missing";
        QTest::newRow("k above experts") << R"({"model_type": "mixtral", "hidden_size": 64, "vocab_size": 300, "num_attention_heads": 4,
                                               "num_local_experts": 4, "num_experts_per_tok": 6, "intermediate_size": 32, "num_hidden_layers": 2})"
                                         << "the imported model does not validate";
        QTest::newRow("not json") << "{" << "not valid JSON";
    }
    void badConfigsNameTheField() {
        QFETCH(QString, text);
        QFETCH(QString, expected);
        auto r = importHfConfig(text.toStdString(), "config.json");
        QVERIFY(!r.ok());
        QVERIFY2(r.message().find(expected.toStdString()) != std::string::npos, r.message().c_str());
    }

    // Import, export, import again: the same model.
    void roundTrip_data() {
        QTest::addColumn<QString>("file");
        for (const char* f : {"mistralai--Mixtral-8x7B-v0.1.json", "Qwen--Qwen3-30B-A3B.json", "openai--gpt-oss-20b.json", "deepseek-ai--DeepSeek-V3.json",
                              "deepseek-ai--DeepSeek-V2.json", "allenai--OLMoE-1B-7B-0924.json", "databricks--dbrx-base.json", "zai-org--GLM-4.5.json",
                              "Qwen--Qwen1.5-MoE-A2.7B.json", "moonshotai--Kimi-K2-Instruct.json"})
            QTest::newRow(f) << f;
    }
    void roundTrip() {
        QFETCH(QString, file);
        auto a = importFile(file.toStdString());
        QVERIFY2(a.ok(), a.message().c_str());
        auto j = exportHfConfig(a->project, a->modelType);
        QVERIFY2(j.ok(), j.message().c_str());
        auto b = importHfConfig(j->dump(), "exported.json", a->project.model.name);
        QVERIFY2(b.ok(), b.message().c_str());
        const auto ja = toJson(a->project)["model"], jb = toJson(b->project)["model"];
        QVERIFY2(ja == jb, (ja.dump() + "\n" + jb.dump()).c_str());
        const ModelFigures fa = computeFigures(a->project.model), fb = computeFigures(b->project.model);
        QCOMPARE(fa.params, fb.params);
    }

    void exportPicksTheFamily() {
        auto a = importFile("deepseek-ai--DeepSeek-V3.json");
        QVERIFY(a.ok());
        auto j = exportHfConfig(a->project);
        QVERIFY2(j.ok(), j.message().c_str());
        QCOMPARE(QString::fromStdString(j.value()["model_type"].get<std::string>()), QString("deepseek_v3"));
        auto bad = exportHfConfig(a->project, "mixtral");
        QVERIFY(!bad.ok());
        QVERIFY2(bad.message().find("needs multi-head latent attention") != std::string::npos ||
                     bad.message().find("has no multi-head latent attention") != std::string::npos,
                 bad.message().c_str());
    }

    // The twin keeps the pattern, routers, experts and k, at the twin's width and depth.
    void twinKeepsThePattern() {
        auto r = importFile("deepseek-ai--DeepSeek-V3.json");
        QVERIFY(r.ok());
        const Project& p = r->project;
        QVERIFY(p.training.twin);
        const ModelSpec t = trainedModel(p);
        QVERIFY2(validateModel(t).empty(), formatAll(validateModel(t)).c_str());
        QCOMPARE(t.stem.dModel, 64);
        QCOMPARE(t.stem.vocab, 256);
        QCOMPARE(t.input.seqLen, 64);
        const auto& g = t.blocks.at(0);
        QCOMPARE(g.repeat, 4);
        QCOMPARE(g.firstDense, 1);  // 3 of 61 shrinks to 1 of 4, never to 0
        QCOMPARE(g.children.at(1).experts.value(), 256);
        QCOMPARE(g.children.at(1).router.k.value(), 8);
        QCOMPARE(g.children.at(1).router.groups, 8);
        QCOMPARE(g.children.at(1).ffn.hidden, 16);
        QVERIFY(g.children.at(0).attention.kind == AttentionKind::Mla);
        const Project tp = trainingProject(p);
        QVERIFY(!tp.training.twin);
        QVERIFY(!tp.deployment);
        QVERIFY(describeTwin(p).find("d_model 64") != std::string::npos);
        // A twin of a GQA model becomes MQA or GQA as its heads allow, and validates.
        auto m = importFile("mistralai--Mixtral-8x7B-v0.1.json");
        QVERIFY(m.ok());
        const ModelSpec mt = trainedModel(m->project);
        QVERIFY2(validateModel(mt).empty(), formatAll(validateModel(mt)).c_str());
        // A twin that cannot be built says where.
        Project bad = m->project;
        bad.training.twin->heads = 3;  // 64 does not split into 3 heads: lowered to 2, still valid
        QVERIFY(validateProject(bad).empty());
    }

    // The twin round-trips through the project file.
    void twinRoundTrip() {
        auto r = importFile("Qwen--Qwen3-30B-A3B.json");
        QVERIFY(r.ok());
        auto again = parseProject(serializeProject(r->project));
        QVERIFY2(again.ok(), again.message().c_str());
        QVERIFY(again->training.twin);
        QCOMPARE(again->training.twin->dModel, r->project.training.twin->dModel);
        QCOMPARE(again->training.twin->seqLen, 64);
        auto bad = parseProject(R"({"format": "moe-studio/1", "model": {"input": {"dataset": "blobs"}, "stem": {"d_model": 16},
            "blocks": [{"kind": "moe", "experts": 4}]}, "training": {"steps": 5, "twin": {"d_model": 2, "layrs": 3}}})");
        QVERIFY(!bad.ok());
        QVERIFY2(bad.message().find("training.twin.d_model") != std::string::npos, bad.message().c_str());
        QVERIFY2(bad.message().find("did you mean \"layers\"") != std::string::npos, bad.message().c_str());
    }

    // An older file: the small model in `model`, the real size in `deployment.model`.
    void legacyDeploymentModelMigrates() {
        const std::string text = R"({"format": "moe-studio/1",
  "model": {"input": {"dataset": "clustered_tokens", "classes": 4, "dims": 8},
            "stem": {"d_model": 32},
            "blocks": [{"kind": "dense", "ffn": {"hidden": 64}},
                       {"kind": "moe", "experts": 8, "ffn": {"hidden": 16}, "router": {"kind": "topk", "k": 2}},
                       {"kind": "moe", "experts": 8, "ffn": {"hidden": 16}, "router": {"kind": "topk", "k": 2}}]},
  "training": {"steps": 10},
  "deployment": {"cluster": "hgx-h100", "gpus": 8,
                 "model": {"d_model": 4096, "ffn_hidden": 1024, "layers": 24, "dense_layers": 2, "experts": 64, "k": 4, "shared_experts": 1}}})";
        auto r = parseProject(text, "old.json");
        QVERIFY2(r.ok(), r.message().c_str());
        QCOMPARE(r->migrations.size(), size_t(1));
        QCOMPARE(QString::fromStdString(r->migrations[0].path), QString("deployment.model"));
        QVERIFY(r->migrations[0].line > 0);
        const ModelSpec& m = r->model;
        QCOMPARE(m.stem.dModel, 4096);
        QCOMPARE(m.blocks.size(), size_t(1));
        QCOMPARE(m.blocks[0].repeat, 24);
        QCOMPARE(m.blocks[0].firstDense, 2);
        QCOMPARE(m.blocks[0].denseFfn.hidden, 64 * 4096 / 32);
        QCOMPARE(m.flattened().moeBlockCount(), 22);
        QCOMPARE(m.expertsOf(0), 0);
        const ModelSpec flat = m.flattened();
        QCOMPARE(flat.expertsOf(2), 64);
        QCOMPARE(flat.kOf(2), 4);
        QCOMPARE(flat.blocks[2].sharedExperts, 1);
        QCOMPARE(flat.blocks[2].ffn.hidden, 1024);
        // What trained before still trains: the twin has the old width, depth and expert width.
        QVERIFY(r->training.twin);
        QCOMPARE(r->training.twin->dModel, 32);
        QCOMPARE(r->training.twin->layers, 3);
        const ModelSpec t = trainedModel(r.value());
        QCOMPARE(t.stem.dModel, 32);
        QCOMPARE(t.layerCount(), 3);
        QVERIFY(t.flattened().blocks[0].kind == BlockKind::Dense);
        QCOMPARE(t.flattened().blocks[1].ffn.hidden, 16);
        // Saved, it no longer has deployment.model, and loads without a migration.
        auto again = parseProject(serializeProject(r.value()));
        QVERIFY2(again.ok(), again.message().c_str());
        QVERIFY(again->migrations.empty());
        const auto saved = toJson(again.value());
        QVERIFY(!saved.at("deployment").contains("model"));
    }
};

QTEST_APPLESS_MAIN(TestHf)
#include "tst_hf.moc"
