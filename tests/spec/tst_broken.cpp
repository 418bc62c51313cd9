// The corpus of broken projects: each file must be rejected with the message in its .expect file
// (file:line:col: path: message, compared as a substring of the formatted diagnostics).
#include <QtTest>

#include <cstdio>
#include <filesystem>
#include <fstream>
#include <random>

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

    // Bounded work on hostile input: diagnostics stop at 100 plus a count (the 300,000 unknown
    // keys of a 5.5 MB file used to take minutes, a did-you-mean each); limits on size, depth,
    // string and array length and layer count refuse with a message. Times: `moe bench validate`.
    void hostileInputIsBounded() {
        const auto project = [](const std::string& modelExtra, const std::string& blocks) {
            return "{\"format\": \"moe-studio/1\", \"model\": {\"input\": {\"dataset\": \"blobs\", \"classes\": 4}, \"stem\": {\"d_model\": 16}, "
                   "\"blocks\": [" + blocks + "]" + modelExtra + "}, \"training\": {\"steps\": 10}}";
        };
        const std::string block = R"({"kind": "moe", "experts": 4, "router": {"kind": "topk", "k": 2}, "ffn": {"hidden": 16}})";
        QVERIFY2(parseProject(project("", block), "ok.json").ok(), parseProject(project("", block), "ok.json").message().c_str());

        std::string keys;
        char buf[40];
        for (int i = 0; i < 300000; ++i) {
            std::snprintf(buf, sizeof buf, ",\n  \"unkn%06d\": 1", i);
            keys += buf;
        }
        const std::string many = project(keys, block);
        QVERIFY(many.size() > 5000000);
        auto r = parseProject(many, "many.json");
        QVERIFY(!r.ok());
        QCOMPARE(r.errors().size(), size_t(101));
        QVERIFY2(r.errors()[0].format().find("many.json:2:3: model.unkn000000: unknown key \"unkn000000\"") == 0,
                 r.errors()[0].format().c_str());
        QCOMPARE(r.errors().back().message, std::string("... and 299900 more errors (only the first 100 are shown)"));

        std::string bad = block;
        for (int i = 0; i < 150; ++i) bad += ", " + std::string(R"({"kind": "moe", "experts": 4, "router": {"kind": "topk", "k": 9}, "ffn": {"hidden": 16}})");
        auto v = parseProject(project("", bad), "bad.json");
        QCOMPARE(v.errors().size(), size_t(101));
        QCOMPARE(v.errors().back().message, std::string("... and 50 more errors (only the first 100 are shown)"));

        const std::pair<std::string, std::string> refused[] = {
            {project(", \"deep\": " + std::string(300, '[') + std::string(300, ']'), block), "nesting is deeper than 256 levels"},
            {project(", \"name\": \"" + std::string((1 << 20) + 1, 'x') + "\"", block), "a string longer than 1048576 bytes (1 MiB)"},
            {project(", \"list\": [" + [] { std::string a; for (int i = 0; i < 1000001; ++i) a += i ? ",0" : "0"; return a; }() + "]", block),
             "an array longer than 1000000 elements"},
            {project("", [&] { std::string b = block; for (int i = 0; i < 4096; ++i) b += ", " + block; return b; }()),
             "model.blocks: 4097 blocks; a model has at most 4096 layers"},
            {project("", R"({"kind": "group", "repeat": 4096, "blocks": [)" + block + ", " + block + "]}"),
             "model.blocks: the blocks make 8192 layers (groups counted with their repeats); a model has at most 4096"},
        };
        for (const auto& [text, message] : refused) {
            auto e = parseProject(text, "limit.json");
            QVERIFY(!e.ok());
            QVERIFY2(e.message().find(message) != std::string::npos, e.message().c_str());
        }

        // A file above 64 MiB is refused before it is read (a sparse file: no disk is spent).
        QTemporaryDir dir;
        const std::string big = (dir.path() + "/big.json").toStdString();
        { std::ofstream(big) << "{"; }
        fs::resize_file(big, (64u << 20) + 1);
        auto f = loadProject(big);
        QVERIFY(!f.ok());
        QVERIFY2(f.message().find("a project is at most 67108864 bytes (64 MiB)") != std::string::npos, f.message().c_str());
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
