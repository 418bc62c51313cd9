// The corpus of broken projects: each file must be rejected with the message in its .expect file
// (file:line:col: path: message, compared as a substring of the formatted diagnostics).
#include <QtTest>

#include <filesystem>

#include "moe/spec/atomic_file.h"
#include "moe/spec/project_io.h"

using namespace moe::spec;
namespace fs = std::filesystem;

class TestBroken : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void corpus_data() {
        QTest::addColumn<QString>("file");
        QTest::addColumn<QString>("expected");
        std::vector<fs::path> files;
        for (const auto& e : fs::directory_iterator(MOE_SOURCE_DIR "/tests/data/broken"))
            if (e.path().extension() == ".json") files.push_back(e.path());
        std::sort(files.begin(), files.end());
        QVERIFY(files.size() >= 25);
        for (const auto& f : files) {
            std::string expect, err;
            auto ex = f;
            ex.replace_extension(".expect");
            QVERIFY2(readFile(ex.string(), expect, err), err.c_str());
            while (!expect.empty() && (expect.back() == '\n' || expect.back() == '\r')) expect.pop_back();
            QTest::newRow(f.filename().c_str()) << QString::fromStdString(f.string()) << QString::fromStdString(expect);
        }
    }
    void corpus() {
        QFETCH(QString, file);
        QFETCH(QString, expected);
        auto r = loadProject(file.toStdString());
        QVERIFY2(!r.ok(), "a broken project was accepted");
        const QString msg = QString::fromStdString(r.message());
        QVERIFY2(msg.contains(expected), qPrintable("expected: " + expected + "\n     got: " + msg));
        // Every diagnostic names the file, and every one that has a path has a position.
        for (const auto& d : r.errors()) {
            QCOMPARE(QString::fromStdString(d.file), file);
            if (!d.path.empty()) QVERIFY2(d.line > 0 && d.column > 0, d.format().c_str());
        }
    }

    // Garbage of every kind never crashes the loader.
    void fuzzNeverCrashes() {
        std::string text, err;
        QVERIFY(readFile(MOE_SOURCE_DIR "/projects/router_zoo.json", text, err));
        std::mt19937 rng(1234);
        for (int i = 0; i < 2000; ++i) {
            std::string t = text;
            const int edits = 1 + static_cast<int>(rng() % 4);
            for (int e = 0; e < edits; ++e) {
                const size_t pos = rng() % t.size();
                switch (rng() % 3) {
                    case 0: t.erase(pos, 1 + rng() % 8); break;
                    case 1: t.insert(t.begin() + static_cast<long>(pos), "{}[],:\"0-e.x\\"[rng() % 13]); break;
                    default: t[pos] = static_cast<char>(rng() % 256); break;
                }
                if (t.empty()) t.push_back('{');
            }
            auto r = parseProject(t, "fuzz");
            if (!r.ok()) QVERIFY(!r.errors().empty());
        }
    }
};

QTEST_APPLESS_MAIN(TestBroken)
#include "tst_broken.moc"
