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
        for (const auto& e : fs::directory_iterator(MOE_SOURCE_DIR "/projects"))
            if (e.path().extension() == ".json") {
                QTest::newRow(e.path().filename().c_str()) << QString::fromStdString(e.path().string());
                ++n;
            }
        QVERIFY(n >= 7);
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

    void missingFile() {
        auto p = loadProject("/nonexistent/project.json");
        QVERIFY(!p.ok());
        QVERIFY(p.message().find("cannot open /nonexistent/project.json") != std::string::npos);
    }
};

QTEST_MAIN(TestProjects)
#include "tst_projects.moc"
