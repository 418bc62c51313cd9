#pragma once
// Fuzz harnesses: each reads one kind of outside input the way the program does and returns what
// happened ("ok ..." with any damage noted, or the reader's errors, one per line). The same
// function runs under libFuzzer (fuzz_main.cpp, MOE_FUZZ=ON) and in the replay test
// (tst_replay.cpp), which feeds it the regression files of tests/data/fuzz/<harness>/.
//
// A reader that misbehaves makes the harness throw HarnessFailure (an invariant broken, e.g. a
// project that validates but cannot be read back once saved); any other exception escaping a
// reader is a finding too. Crashes, hangs and sanitizer reports speak for themselves.
#include <map>
#include <stdexcept>
#include <string>
#include <string_view>

namespace moe::cluster {
class Catalog;
}

namespace moe::fuzz {

struct HarnessFailure : std::logic_error {
    using std::logic_error::logic_error;
};

std::string project(std::string_view input);    // project JSON reader and validator (core/spec)
std::string hf(std::string_view input);         // Hugging Face config.json importer (core/spec)
std::string ncclLog(std::string_view input);    // nccl-tests / rccl-tests log parser (core/cluster)
std::string runStore(std::string_view input);   // run-store reader on a (corrupted) SQLite file
std::string catalog(std::string_view input);    // catalog documents and overlays (core/cluster)
std::string cli(std::string_view input);        // `moe` argument parser, real command specs

// An input for catalog() that starts with this byte and a digit replaces the shipped catalog's
// document of that index (in file name order) with the rest; any other input is an overlay.
inline constexpr char kCatalogDocumentMark = '#';

// The shipped catalog's documents (file name -> text) and the catalog they make, read once.
const std::map<std::string, std::string>& catalogDocuments();
const cluster::Catalog& shippedCatalog();

}  // namespace moe::fuzz
