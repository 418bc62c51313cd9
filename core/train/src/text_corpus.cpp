// Text for byte-level language modelling: corpus loading, the byte tokenizer, the held-out split,
// the training windows and the token classes of the routing-by-class view.
#include <algorithm>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <random>
#include <sstream>

#include "moe/train/datasets.h"

namespace moe::train {
namespace {

using moe::spec::Diagnostics;

constexpr const char* kFortunesPackage = "fortunes";
constexpr const char* kCorpusPath = "model.input.corpus";
constexpr int kHeldOutEvery = 20;  // fortunes: one entry in 20 is held out (5%)

// Length of the valid UTF-8 sequence starting at text[i], or 0 when none starts there
// (overlong forms, surrogates and code points above U+10FFFF are invalid, as in RFC 3629).
size_t utf8SequenceAt(std::string_view text, size_t i) {
    const auto b = [&](size_t j) { return static_cast<unsigned char>(text[j]); };
    const unsigned char c = b(i);
    if (c < 0x80) return 1;
    size_t n = 0;
    unsigned char lo = 0x80, hi = 0xBF;
    if (c >= 0xC2 && c <= 0xDF) n = 2;
    else if (c == 0xE0) n = 3, lo = 0xA0;
    else if (c == 0xED) n = 3, hi = 0x9F;
    else if (c >= 0xE1 && c <= 0xEF) n = 3;
    else if (c == 0xF0) n = 4, lo = 0x90;
    else if (c == 0xF4) n = 4, hi = 0x8F;
    else if (c >= 0xF1 && c <= 0xF3) n = 4;
    else return 0;
    if (i + n > text.size()) return 0;
    if (b(i + 1) < lo || b(i + 1) > hi) return 0;
    for (size_t j = 2; j < n; ++j)
        if (b(i + j) < 0x80 || b(i + j) > 0xBF) return 0;
    return n;
}

bool readFile(const std::filesystem::path& p, std::string& out) {
    std::ifstream f(p, std::ios::binary);
    if (!f) return false;
    std::ostringstream s;
    s << f.rdbuf();
    out = s.str();
    return !f.bad();
}

// One fortune per entry: the package separates them with lines holding only "%".
std::vector<std::string> fortuneEntries(const std::string& text) {
    std::vector<std::string> out;
    std::string cur;
    std::istringstream in(text);
    std::string line;
    while (std::getline(in, line)) {
        if (line == "%") {
            if (!cur.empty()) out.push_back(std::move(cur));
            cur.clear();
            continue;
        }
        cur += line;
        cur += '\n';
    }
    if (!cur.empty()) out.push_back(std::move(cur));
    return out;
}

}  // namespace

std::vector<std::int64_t> encodeBytes(std::string_view text) {
    std::vector<std::int64_t> out(text.size());
    for (size_t i = 0; i < text.size(); ++i) out[i] = static_cast<unsigned char>(text[i]);
    return out;
}

std::string decodeBytes(const std::vector<std::int64_t>& tokens) {
    std::string out(tokens.size(), '?');
    for (size_t i = 0; i < tokens.size(); ++i)
        if (tokens[i] >= 0 && tokens[i] < kByteVocab) out[i] = static_cast<char>(static_cast<unsigned char>(tokens[i]));
    return out;
}

std::int64_t firstInvalidUtf8(std::string_view text) {
    for (size_t i = 0; i < text.size();) {
        const size_t n = utf8SequenceAt(text, i);
        if (n == 0) return static_cast<std::int64_t>(i);
        i += n;
    }
    return -1;
}

std::string printableUtf8(std::string_view text) {
    static const std::string kReplacement = "\xEF\xBF\xBD";
    std::string out;
    out.reserve(text.size());
    for (size_t i = 0; i < text.size();) {
        const size_t n = utf8SequenceAt(text, i);
        const unsigned char c = static_cast<unsigned char>(text[i]);
        // Control bytes could move the cursor or start a terminal escape sequence.
        if (n == 0 || (n == 1 && ((c < 0x20 && c != '\n' && c != '\t') || c == 0x7F))) {
            out += kReplacement;
            i += 1;
            continue;
        }
        out.append(text.substr(i, n));
        i += n;
    }
    return out;
}

moe::spec::Result<std::string> readCorpusText(const std::string& corpus, const std::string& baseDir, const std::string& fortunesDir) {
    namespace fs = std::filesystem;
    std::error_code ec;
    if (corpus.empty()) return Diagnostics{{kCorpusPath, "no corpus named; write \"fortunes\" or the path of a UTF-8 text file"}};
    if (corpus == kFortunesCorpus) {
        if (!fs::is_directory(fortunesDir, ec))
            return Diagnostics{{kCorpusPath, std::string("the fortunes corpus is not installed (no folder ") + fortunesDir +
                                                 "); install the Debian package " + kFortunesPackage + " (sudo apt-get install " +
                                                 kFortunesPackage + ")"}};
        std::vector<fs::path> files;
        // Only the folder's own files: the offensive collection lives in a sub-folder `off/`.
        for (const auto& e : fs::directory_iterator(fortunesDir, ec)) {
            const auto ext = e.path().extension().string();
            if (ext == ".dat" || ext == ".u8" || !e.is_regular_file(ec) || e.is_symlink(ec)) continue;
            files.push_back(e.path());
        }
        std::sort(files.begin(), files.end());
        if (files.empty())
            return Diagnostics{{kCorpusPath, std::string("no fortune files in ") + fortunesDir + "; reinstall the Debian package " + kFortunesPackage}};
        std::string all;
        for (const auto& f : files) {
            std::string text;
            if (!readFile(f, text)) return Diagnostics{{kCorpusPath, "cannot read " + f.string()}};
            if (auto bad = firstInvalidUtf8(text); bad >= 0)
                return Diagnostics{{kCorpusPath, f.string() + " is not valid UTF-8 (byte offset " + std::to_string(bad) + ")"}};
            if (!text.empty() && text.back() != '\n') text += '\n';
            all += text;
            all += "%\n";
        }
        return all;
    }
    fs::path p(corpus);
    if (p.is_relative() && !baseDir.empty()) p = fs::path(baseDir) / p;
    if (!fs::is_regular_file(p, ec))
        return Diagnostics{{kCorpusPath, "corpus file " + p.string() + " does not exist (name \"fortunes\" or a UTF-8 text file)"}};
    std::string text;
    if (!readFile(p, text)) return Diagnostics{{kCorpusPath, "cannot read the corpus file " + p.string()}};
    if (text.empty()) return Diagnostics{{kCorpusPath, "corpus file " + p.string() + " is empty"}};
    if (auto bad = firstInvalidUtf8(text); bad >= 0)
        return Diagnostics{{kCorpusPath, "corpus file " + p.string() + " is not valid UTF-8: invalid byte at offset " + std::to_string(bad)}};
    return text;
}

moe::spec::Result<TextCorpus> splitText(const std::string& text, const std::string& source, int seqLen, bool fortunes) {
    TextCorpus c;
    c.source = source;
    if (fortunes) {
        // Fortunes are short, self-contained texts: holding out whole entries keeps every
        // category (the files are joined alphabetically) on both sides of the split.
        const auto entries = fortuneEntries(text);
        for (size_t i = 0; i < entries.size(); ++i) {
            auto& side = (i % kHeldOutEvery == kHeldOutEvery - 1) ? c.test : c.train;
            side.insert(side.end(), entries[i].begin(), entries[i].end());
            side.push_back('\n');
        }
    } else {
        const size_t n = text.size();
        size_t cut = n - std::max<size_t>(n / kHeldOutEvery, static_cast<size_t>(seqLen) + 1);
        if (cut > n) cut = 0;
        // Cut at a character boundary so both sides stay valid UTF-8.
        while (cut > 0 && cut < n && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
        c.train.assign(text.begin(), text.begin() + static_cast<long>(cut));
        c.test.assign(text.begin() + static_cast<long>(cut), text.end());
    }
    const size_t need = static_cast<size_t>(seqLen) + 1;
    if (c.train.size() < 2 * need || c.test.size() < need)
        return Diagnostics{{kCorpusPath, "corpus " + source + " is too short: " + std::to_string(text.size()) + " bytes give " +
                                             std::to_string(c.train.size()) + " training and " + std::to_string(c.test.size()) +
                                             " held-out bytes; a seq_len of " + std::to_string(seqLen) + " needs at least " +
                                             std::to_string(2 * need) + " and " + std::to_string(need) +
                                             " (use a longer text or a shorter seq_len)"}};
    return c;
}

moe::spec::Result<TextCorpus> loadTextCorpus(const moe::spec::InputSpec& input, const std::string& baseDir, const std::string& fortunesDir) {
    auto text = readCorpusText(input.corpus, baseDir, fortunesDir);
    if (!text) return text.errors();
    return splitText(text.value(), input.corpus, input.seqLen, input.corpus == kFortunesCorpus);
}

std::vector<std::int64_t> trainingWindows(std::int64_t textBytes, int seqLen, int count, std::uint64_t seed, std::int64_t step) {
    const std::int64_t last = textBytes - seqLen - 1;  // highest valid start
    std::vector<std::int64_t> out(static_cast<size_t>(std::max(count, 0)), 0);
    if (last < 0) return out;
    std::mt19937_64 rng(seed * 0x9E3779B97F4A7C15ULL + static_cast<std::uint64_t>(step) * 0xBF58476D1CE4E5B9ULL + 0x7e47ULL);
    std::uniform_int_distribution<std::int64_t> pick(0, last);
    for (auto& s : out) s = pick(rng);
    return out;
}

std::vector<std::int64_t> heldOutWindows(std::int64_t textBytes, int seqLen, int count) {
    const std::int64_t last = textBytes - seqLen - 1;
    std::vector<std::int64_t> out;
    if (last < 0 || count <= 0) return out;
    if (count == 1) return {0};
    for (int i = 0; i < count; ++i) out.push_back(last * i / (count - 1));
    out.erase(std::unique(out.begin(), out.end()), out.end());
    return out;
}

double unigramBitsPerByte(const std::vector<std::uint8_t>& train, const std::vector<std::uint8_t>& test) {
    if (test.empty()) return 0;
    std::vector<double> counts(kByteVocab, 1.0);
    for (auto b : train) counts[b] += 1;
    const double total = static_cast<double>(train.size()) + kByteVocab;
    double bits = 0;
    for (auto b : test) bits -= std::log2(counts[b] / total);
    return bits / static_cast<double>(test.size());
}

int tokenClassOf(int byte) {
    if ((byte >= 'a' && byte <= 'z') || (byte >= 'A' && byte <= 'Z')) return static_cast<int>(TokenClass::Letter);
    if (byte >= '0' && byte <= '9') return static_cast<int>(TokenClass::Digit);
    if (byte == ' ' || byte == '\n' || byte == '\t' || byte == '\r') return static_cast<int>(TokenClass::Space);
    if (byte > 0x20 && byte < 0x7F) return static_cast<int>(TokenClass::Punctuation);
    return static_cast<int>(TokenClass::Other);
}

const std::vector<std::string>& tokenClassNames() {
    static const std::vector<std::string> names = {"letters", "digits", "spaces", "punctuation", "other"};
    return names;
}

}  // namespace moe::train
