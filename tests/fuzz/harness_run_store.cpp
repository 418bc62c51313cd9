// Run stores: the bytes become a SQLite file that the reader opens the way `moe report`, `moe
// render`, the simulator's recorded routing and the studio's run list do; everything they read is
// read (meta, every snapshot, each CSV table, the Markdown report, the project it trained).
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>
#include <unistd.h>

#include "harness.h"
#include "moe/spec/project_io.h"
#include "moe/telemetry/report.h"
#include "moe/telemetry/run_store.h"

namespace moe::fuzz {

namespace {

// One file per process, removed with its journal files after every input.
class TempStore {
public:
    explicit TempStore(std::string_view bytes)
        : m_path((std::filesystem::temp_directory_path() / ("moe-fuzz-run-" + std::to_string(::getpid()) + ".sqlite")).string()) {
        std::ofstream out(m_path, std::ios::binary | std::ios::trunc);
        out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
    }
    ~TempStore() {
        std::error_code ec;
        for (const char* suffix : {"", "-wal", "-shm", "-journal"}) std::filesystem::remove(m_path + suffix, ec);
    }
    const std::string& path() const { return m_path; }

private:
    std::string m_path;
};

}  // namespace

std::string runStore(std::string_view input) {
    TempStore file(input);
    (void)telemetry::isRunStore(file.path());
    (void)telemetry::RunReader::readInfo(file.path());
    auto opened = telemetry::RunReader::open(file.path());
    if (!opened.ok()) {
        // Without the temporary file's name, so the outcome of an input is always the same.
        std::string message = opened.errors().front().message;
        for (auto at = message.find(file.path()); at != std::string::npos; at = message.find(file.path()))
            message.replace(at, file.path().size(), "RUN.sqlite");
        return message;
    }
    const telemetry::RunReader& run = *opened.value();
    std::size_t cells = 0;
    for (const auto& s : run.snapshots()) {
        if (run.at(s->step) == nullptr) throw HarnessFailure("a snapshot the reader holds is not found by its step");
        for (const auto& b : s->blocks) cells += b.loadShare().size();
    }
    std::ostringstream sink;
    for (const auto& table : telemetry::RunReader::csvTables()) {
        std::string error;
        // A store written before a table existed lacks it: the reader says so, which is an answer.
        if (!run.writeCsv(table, sink, error) && error.find("from before it existed") == std::string::npos)
            throw HarnessFailure("CSV table " + table + " is listed but not written: " + error);
    }
    telemetry::writeMarkdownReport(run, sink);
    (void)spec::parseProject(run.info().projectJson, "run project");
    std::string out = "ok: " + std::to_string(run.snapshots().size()) + " snapshots, " + std::to_string(cells) + " expert cells";
    for (const auto& d : run.damage()) out += "\ndamaged: " + d;
    return out;
}

}  // namespace moe::fuzz
