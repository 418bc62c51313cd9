#include "moe/spec/model_spec.h"

#include <sstream>

#include "moe/spec/diagnostic.h"

namespace moe::spec {

int InputSpec::sampleFeatures() const {
    switch (dataset) {
        case DatasetKind::FashionMnist: return 28 * 28;
        case DatasetKind::ClusteredTokens: return dims;
        default: return 2;
    }
}

int InputSpec::tokensPerSample() const {
    if (tokens == TokenMode::Patches && dataset == DatasetKind::FashionMnist && patch > 0 && 28 % patch == 0)
        return (28 / patch) * (28 / patch);
    return 1;
}

int InputSpec::tokenDim() const {
    if (tokens == TokenMode::Patches && dataset == DatasetKind::FashionMnist && patch > 0 && 28 % patch == 0)
        return patch * patch;
    return sampleFeatures();
}

int InputSpec::numClasses() const {
    switch (dataset) {
        case DatasetKind::FashionMnist: return 10;
        case DatasetKind::Blobs:
        case DatasetKind::ClusteredTokens: return classes;
        default: return 2;  // spirals, circles, xor
    }
}

int ModelSpec::moeBlockCount() const {
    int n = 0;
    for (const auto& b : blocks) n += b.kind == BlockKind::Moe ? 1 : 0;
    return n;
}

int ModelSpec::moeIndex(int block) const {
    if (block < 0 || block >= static_cast<int>(blocks.size()) || blocks[static_cast<size_t>(block)].kind != BlockKind::Moe)
        return -1;
    int n = 0;
    for (int i = 0; i < block; ++i) n += blocks[static_cast<size_t>(i)].kind == BlockKind::Moe ? 1 : 0;
    return n;
}

namespace {
int fromSchedule(const std::optional<Schedule>& s, int moeIdx, int moeCount, int def) {
    if (!s || !checkSchedule(*s, moeCount).empty()) return def;
    const auto c = s->counts(moeCount);
    return c[static_cast<size_t>(moeIdx)];
}
}  // namespace

int ModelSpec::expertsOf(int block) const {
    const int mi = moeIndex(block);
    if (mi < 0) return 0;
    const auto& b = blocks[static_cast<size_t>(block)];
    if (b.experts) return *b.experts;
    return fromSchedule(expertSchedule, mi, moeBlockCount(), kDefaultExperts);
}

int ModelSpec::kOf(int block) const {
    const int mi = moeIndex(block);
    if (mi < 0) return 0;
    const auto& b = blocks[static_cast<size_t>(block)];
    if (b.router.k) return *b.router.k;
    return fromSchedule(kSchedule, mi, moeBlockCount(), kDefaultK);
}

int ModelSpec::routedExpertsOf(int block) const {
    if (moeIndex(block) < 0) return 0;
    return expertsOf(block) + blocks[static_cast<size_t>(block)].zeroExperts.total();
}

std::string Diagnostic::format() const {
    std::ostringstream s;
    if (!file.empty()) s << file << ":";
    if (line > 0) s << line << ":" << column << ":";
    if (!file.empty() || line > 0) s << " ";
    if (!path.empty()) s << path << ": ";
    s << message;
    return s.str();
}

std::string formatAll(const Diagnostics& d) {
    std::string out;
    for (const auto& e : d) {
        if (!out.empty()) out += "\n";
        out += e.format();
    }
    return out;
}

}  // namespace moe::spec
