// Every example project loads, and survives save -> load unchanged; edits apply and re-validate.
#include <QtTest>

#include <filesystem>

#include "moe/spec/atomic_file.h"
#include "moe/spec/project_io.h"

using namespace moe::spec;
namespace fs = std::filesystem;

class TestProjects : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void roundTrip_data() {
        QTest::addColumn<QString>("file");
        int n = 0;
        for (const char* dir : {MOE_SOURCE_DIR "/projects", MOE_SOURCE_DIR "/tests/data/spec"})
            for (const auto& e : fs::directory_iterator(dir))
                if (e.path().extension() == ".json") {
                    QTest::newRow(e.path().filename().c_str()) << QString::fromStdString(e.path().string());
                    ++n;
                }
        QVERIFY(n >= 10);
    }
    void roundTrip() {
        QFETCH(QString, file);
        auto p = loadProject(file.toStdString());
        QVERIFY2(p.ok(), p.message().c_str());
        const std::string text = serializeProject(p.value());
        auto again = parseProject(text, "saved");
        QVERIFY2(again.ok(), again.message().c_str());
        QCOMPARE(QString::fromStdString(serializeProject(again.value())), QString::fromStdString(text));
        // Nothing in the original file is lost: every key it sets survives with its value.
        std::string orig, err;
        QVERIFY(readFile(file.toStdString(), orig, err));
        const auto a = nlohmann::json::parse(orig).flatten();
        const auto b = nlohmann::json::parse(text).flatten();
        for (auto it = a.begin(); it != a.end(); ++it) {
            QVERIFY2(b.contains(it.key()), it.key().c_str());
            if (it.value().is_number()) QCOMPARE(b[it.key()].get<double>(), it.value().get<double>());
            else QCOMPARE(QString::fromStdString(b[it.key()].dump()), QString::fromStdString(it.value().dump()));
        }
    }

    void atomicSave() {
        QTemporaryDir dir;
        const std::string path = (dir.path() + "/p.json").toStdString();
        auto p = loadProject(MOE_SOURCE_DIR "/projects/collapse.json");
        QVERIFY(p.ok());
        QVERIFY(saveProject(p.value(), path).empty());
        auto back = loadProject(path);
        QVERIFY2(back.ok(), back.message().c_str());
        // No temp files are left beside it.
        int files = 0;
        for (const auto& e : fs::directory_iterator(dir.path().toStdString())) {
            (void)e;
            ++files;
        }
        QCOMPARE(files, 1);
        // A directory that does not exist: an error naming it, not a crash.
        const std::string err = saveProject(p.value(), "/nonexistent-dir/p.json");
        QVERIFY(err.find("nonexistent-dir") != std::string::npos);
    }

    void applyScenarioEdits() {
        auto p = loadProject(MOE_SOURCE_DIR "/projects/collapse.json");
        QVERIFY(p.ok());
        QVERIFY(p->scenario.has_value());
        const auto& step = p->scenario->steps.at(2);
        auto edited = applyEdits(p.value(), step.edits);
        QVERIFY2(edited.ok(), edited.message().c_str());
        for (const auto& b : edited->model.blocks) {
            QCOMPARE(b.losses.aux, 0.05);
            QCOMPARE(b.router.noise, 1.0);
        }
        // An edit that makes the project invalid is refused with the validator's message.
        auto bad = applyEdits(p.value(), nlohmann::ordered_json{{"model.blocks[0].router.k", 99}});
        QVERIFY(!bad.ok());
        QVERIFY(bad.message().find("model.blocks[0].router.k") != std::string::npos);
        auto badPath = applyEdits(p.value(), nlohmann::ordered_json{{"model.blocks[7].experts", 3}});
        QVERIFY(!badPath.ok());
        QVERIFY(badPath.message().find("past the end") != std::string::npos);
    }

    // The saved form of an existing MLP project is the file itself, byte for byte.
    void mlpProjectsByteStable() {
        for (const char* name : {"collapse_fixed.json", "router_zoo.json", "fashion_descending.json", "moe_plus_plus.json"}) {
            const std::string path = std::string(MOE_SOURCE_DIR "/projects/") + name;
            std::string orig, err;
            QVERIFY(readFile(path, orig, err));
            auto p = loadProject(path);
            QVERIFY2(p.ok(), p.message().c_str());
            QCOMPARE(QString::fromStdString(serializeProject(p.value())), QString::fromStdString(orig));
        }
    }

    // Edits reach into groups; "[*]" in a mixed list skips the elements without the key.
    void editsInsideGroups() {
        auto p = loadProject(MOE_SOURCE_DIR "/tests/data/spec/deepseek_mini.json");
        QVERIFY2(p.ok(), p.message().c_str());
        auto e = applyEdits(p.value(), nlohmann::ordered_json{{"model.blocks[0].blocks[*].router.k", 2},
                                                              {"model.blocks[0].blocks[0].heads", 2},
                                                              {"model.blocks[0].repeat", 6}});
        QVERIFY2(e.ok(), e.message().c_str());
        const BlockSpec& g = e->model.blocks.at(0);
        QCOMPARE(g.repeat, 6);
        QCOMPARE(g.children.at(0).attention.heads, 2);
        QCOMPARE(*g.children.at(1).router.k, 2);
        QCOMPARE(e->model.layerCount(), 12);
        // An invalid edit inside a group names the path inside the group.
        auto bad = applyEdits(p.value(), nlohmann::ordered_json{{"model.blocks[0].blocks[1].router.topk_groups", 5}});
        QVERIFY(!bad.ok());
        QVERIFY2(bad.message().find("model.blocks[0].blocks[1].router.topk_groups") != std::string::npos, bad.message().c_str());
    }

    void missingFile() {
        auto p = loadProject("/nonexistent/project.json");
        QVERIFY(!p.ok());
        QVERIFY(p.message().find("cannot open /nonexistent/project.json") != std::string::npos);
    }
};

QTEST_MAIN(TestProjects)
#include "tst_projects.moc"
