// Replays the fuzzers' findings: every file under tests/data/fuzz/<harness>/ goes through the same
// harness function the fuzz target runs. None may crash, throw or break a harness invariant, and a
// file with a <name>.expect beside it must give an outcome containing that text (the clear error
// its fix added), so reverting a fix fails here in the ordinary build, sanitizers or not.
#include <QtTest>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <spdlog/spdlog.h>

#include "harness.h"

namespace fs = std::filesystem;

namespace {

std::string readAll(const fs::path& p) {
    std::ifstream in(p, std::ios::binary);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

void addRows(const char* harness) {
    QTest::addColumn<QString>("file");
    const fs::path dir = fs::path(MOE_SOURCE_DIR) / "tests/data/fuzz" / harness;
    std::vector<fs::path> files;
    if (fs::is_directory(dir))
        for (const auto& e : fs::directory_iterator(dir))
            if (e.is_regular_file() && e.path().extension() != ".expect") files.push_back(e.path());
    std::sort(files.begin(), files.end());
    for (const auto& f : files) QTest::newRow(f.filename().c_str()) << QString::fromStdString(f.string());
    if (files.empty()) QSKIP("no regression files for this harness");
}

void replay(std::string (*harness)(std::string_view)) {
    QFETCH(QString, file);
    const fs::path path = file.toStdString();
    std::string outcome;
    try {
        outcome = harness(readAll(path));
    } catch (const moe::fuzz::HarnessFailure& e) {
        QFAIL(e.what());
    } catch (const std::exception& e) {
        QFAIL((std::string("a reader threw instead of reporting an error: ") + e.what()).c_str());
    }
    fs::path expectFile = path;
    expectFile += ".expect";
    if (!fs::exists(expectFile)) return;
    std::string expect = readAll(expectFile);
    while (!expect.empty() && (expect.back() == '\n' || expect.back() == '\r')) expect.pop_back();
    QVERIFY2(outcome.find(expect) != std::string::npos, ("outcome: " + outcome + "\nexpected it to contain: " + expect).c_str());
}

}  // namespace

class TestFuzzReplay : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void initTestCase() { spdlog::set_level(spdlog::level::off); }
    void project_data() { addRows("project"); }
    void project() { replay(moe::fuzz::project); }
    void hf_data() { addRows("hf"); }
    void hf() { replay(moe::fuzz::hf); }
    void ncclLog_data() { addRows("nccl_log"); }
    void ncclLog() { replay(moe::fuzz::ncclLog); }
    void runStore_data() { addRows("run_store"); }
    void runStore() { replay(moe::fuzz::runStore); }
    void catalog_data() { addRows("catalog"); }
    void catalog() { replay(moe::fuzz::catalog); }
    void cli_data() { addRows("cli"); }
    void cli() { replay(moe::fuzz::cli); }
};

QTEST_GUILESS_MAIN(TestFuzzReplay)
#include "tst_replay.moc"
