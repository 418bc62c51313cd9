#include <algorithm>
#include <cstdio>
#include <iostream>

#include "cli_command.h"
#include "moe/spec/derived.h"
#include "moe/spec/hf.h"
#include "moe/spec/twin.h"
#include "moe/spec/project_io.h"

namespace {

using moe::cli::fixed;
using moe::cli::humanBytes;
using moe::cli::humanCount;
namespace spec = moe::spec;
using Json = nlohmann::ordered_json;

// The authored block a flattened layer comes from (a group's child, or the block itself).
const spec::BlockSpec& authoredOf(const spec::ModelSpec& m, const spec::LayerOrigin& o) {
    const spec::BlockSpec& b = m.blocks[static_cast<size_t>(o.block)];
    return o.child >= 0 ? b.children[static_cast<size_t>(o.child)] : b;
}

std::string labelOf(const spec::ModelSpec& m, const spec::LayerOrigin& o) {
    const std::string& own = authoredOf(m, o).label;
    return own.empty() && o.child >= 0 ? m.blocks[static_cast<size_t>(o.block)].label : own;
}

std::string kindText(const spec::BlockSpec& b) {
    std::string s(spec::toString(b.kind));
    if (b.kind == spec::BlockKind::Attention) s += " " + std::string(spec::toString(b.attention.kind));
    return s;
}

std::string kText(double k) { return k == static_cast<int>(k) ? std::to_string(static_cast<int>(k)) : fixed(k, 2); }

// One table row: a run of flattened layers (one layer, or the same repeat of a group many times).
struct Segment {
    std::vector<int> layers;
    std::string kind, label;
};

std::vector<Segment> segments(const spec::ModelSpec& m, const spec::ModelSpec& flat, const std::vector<spec::LayerOrigin>& origins,
                              bool everyLayer) {
    std::vector<Segment> out;
    for (int i = 0; i < static_cast<int>(origins.size()); ++i) {
        const auto& o = origins[static_cast<size_t>(i)];
        const spec::BlockSpec& layer = flat.blocks[static_cast<size_t>(i)];
        if (everyLayer || o.child < 0) {
            out.push_back({{i}, kindText(layer), labelOf(m, o)});
            continue;
        }
        // Groups: one row per run of repeats of the same shape (the first_dense repeats, the rest).
        const spec::BlockSpec& g = m.blocks[static_cast<size_t>(o.block)];
        const bool dense = o.repeat < g.firstDense;
        const bool sameRun = !out.empty() && i > 0 && origins[static_cast<size_t>(i - 1)].block == o.block &&
                             (origins[static_cast<size_t>(i - 1)].repeat < g.firstDense) == dense;
        if (!sameRun) {
            const int run = dense ? g.firstDense : g.repeat - g.firstDense;
            std::string kind;
            for (size_t c = 0; c < g.children.size(); ++c)
                kind += (c ? " + " : "") + kindText(flat.blocks[static_cast<size_t>(i) + c]);
            out.push_back({{}, kind + " x" + std::to_string(run), g.label});
        }
        out.back().layers.push_back(i);
    }
    return out;
}

std::string range(std::vector<int> v) {
    if (v.empty()) return "";
    const auto [lo, hi] = std::minmax_element(v.begin(), v.end());
    return *lo == *hi ? std::to_string(*lo) : std::to_string(*lo) + "-" + std::to_string(*hi);
}

Json layerJson(const spec::ModelSpec& m, const spec::ModelSpec& flat, const spec::ModelFigures& f, int i, double bytes) {
    const auto& b = flat.blocks[static_cast<size_t>(i)];
    const auto& bf = f.blocks[static_cast<size_t>(i)];
    const auto& o = f.origins[static_cast<size_t>(i)];
    Json e;
    e["index"] = i;
    e["kind"] = spec::toString(b.kind);
    e["origin"] = {{"block", o.block}, {"repeat", o.repeat}, {"child", o.child}};
    if (const std::string l = labelOf(m, o); !l.empty()) e["label"] = l;
    if (b.kind == spec::BlockKind::Moe) {
        e["experts"] = bf.experts;
        e["zero_experts"] = bf.zeroExperts;
        e["shared_experts"] = b.sharedExperts;
        e["k"] = bf.k;
        e["router"] = spec::toString(b.router.kind);
    }
    if (b.kind == spec::BlockKind::Attention) {
        const auto& a = b.attention;
        e["attention"] = a.kind == spec::AttentionKind::Mla ? Json{{"type", "mla"}, {"heads", a.heads}, {"kv_lora_rank", a.kvLoraRank},
                                                                   {"qk_rope_head_dim", a.qkRopeHeadDim}}
                                                             : Json{{"type", spec::toString(a.kind)}, {"heads", a.heads}, {"kv_heads", a.kvHeads},
                                                                   {"head_dim", a.resolvedHeadDim(m.stem.dModel)}};
        e["attention"]["causal"] = a.causal;
        e["attention"]["window"] = a.window;
    }
    e["params"] = bf.params;
    e["active_params"] = bf.activeParams;
    e["flops_per_token"] = bf.flopsPerToken;
    e["attention_flops_per_token"] = bf.attentionFlopsPerToken;
    e["kv_cache_elements_per_token"] = bf.kvCachePerToken;
    e["kv_cache_bytes_per_token"] = static_cast<double>(bf.kvCachePerToken) * bytes;
    return e;
}

void printJson(const spec::ModelSpec& m, const spec::ModelSpec& flat, const spec::ModelFigures& f, const std::string& dtype) {
    const double bytes = spec::bytesPerElement(dtype);
    Json j;
    j["name"] = m.name;
    j["tokens_per_sample"] = m.input.tokensPerSample();
    j["seq_len"] = f.seqLen;
    j["token_dim"] = m.input.tokenDim();
    j["d_model"] = m.stem.dModel;
    j["stem"] = {{"kind", spec::toString(m.stem.kind)}, {"params", f.stemParams}, {"flops_per_token", f.stemFlopsPerToken}};
    j["head"] = {{"tied", m.head.tied}, {"params", f.headParams}, {"flops_per_token", f.headFlopsPerToken}};
    j["blocks"] = Json::array();
    for (int i = 0; i < static_cast<int>(flat.blocks.size()); ++i) j["blocks"].push_back(layerJson(m, flat, f, i, bytes));
    j["authored"] = Json::array();
    for (int i = 0; i < static_cast<int>(m.blocks.size()); ++i) {
        const auto s = f.authored(i);
        j["authored"].push_back({{"index", i}, {"kind", spec::toString(s.kind)}, {"layers", s.layers}, {"params", s.params},
                                 {"active_params", s.activeParams}, {"flops_per_token", s.flopsPerToken},
                                 {"kv_cache_bytes_per_token", static_cast<double>(s.kvCachePerToken) * bytes}});
    }
    j["stem_params"] = f.stemParams;
    j["head_params"] = f.headParams;
    j["params"] = f.params;
    j["params_without_embedding"] = f.paramsWithoutEmbedding;
    j["active_params"] = f.activeParams;
    j["active_params_without_embedding"] = f.activeParamsWithoutEmbedding;
    j["flops_per_token"] = f.flopsPerToken;
    j["dtype"] = dtype;
    j["kv_cache_elements_per_token"] = f.kvCachePerToken;
    j["kv_cache_bytes_per_token"] = f.kvCacheBytesPerToken(dtype);
    Json mem;
    for (auto dt : spec::dtypeNames()) mem[std::string(dt)] = static_cast<double>(f.params) * spec::bytesPerElement(dt);
    j["weight_bytes"] = mem;
    moe::cli::printJson(j);
}

std::string inputLine(const spec::ModelSpec& m) {
    std::string s = "input: " + std::string(spec::toString(m.input.dataset));
    if (m.input.isText())
        s += " (" + m.input.corpus + "), sequences of " + std::to_string(m.input.seqLen) + " bytes";
    else
        s += ", " + std::to_string(m.input.tokensPerSample()) + " token(s) of " + std::to_string(m.input.tokenDim()) +
             " features per sample, " + std::to_string(m.input.numClasses()) + " classes";
    if (m.stem.kind == spec::StemKind::Embedding) s += "; embedding vocab " + std::to_string(m.stem.vocab);
    s += "; d_model " + std::to_string(m.stem.dModel);
    if (m.stem.positions != spec::PositionKind::None) s += ", " + std::string(spec::toString(m.stem.positions)) + " positions";
    return s;
}

int run(const moe::cli::ParsedArgs& a) {
    const std::string dtype = a.valueOr("dtype", "bf16");
    if (spec::bytesPerElement(dtype) <= 0) {
        std::vector<std::string> names;
        for (auto n : spec::dtypeNames()) names.emplace_back(n);
        throw moe::cli::UsageError("--dtype '" + dtype + "' is not a dtype; expected " + moe::cli::joinList(names));
    }
    auto r = moe::cli::loadProjectFile(a.positional()[0]);
    if (!r) return 1;
    const spec::ModelSpec& m = r->model;
    const spec::ModelSpec flat = m.flattened();
    const auto f = spec::computeFigures(m);
    if (a.flag("json")) {
        printJson(m, flat, f, dtype);
        return 0;
    }
    const double bytes = spec::bytesPerElement(dtype);
    std::cout << (m.name.empty() ? a.positional()[0] : m.name) << "\n" << inputLine(m) << "\n\n";
    const auto segs = segments(m, flat, f.origins, a.flag("layers"));
    bool labels = false;
    for (const auto& s : segs) labels = labels || !s.label.empty();
    // The label column only appears when some block has a label, the KV column with attention.
    const bool kv = f.kvCachePerToken > 0;
    auto row = [&](std::vector<std::string> r, const std::string& label) {
        if (!kv) r.pop_back();
        if (labels) r.insert(r.begin() + 1, label);
        return r;
    };
    const std::string kvHeader = "KV/token (" + dtype + ")";
    moe::cli::Table t(row({"layer", "kind", "experts", "k", "router", "params", "active", "FLOPs/token", kvHeader}, "label"));
    const bool lm = m.input.isText();
    const std::string stemKind = m.stem.kind == spec::StemKind::Embedding ? "embedding" : "linear";
    t.add(row({"stem", stemKind, "", "", "", humanCount(static_cast<double>(f.stemParams)), humanCount(static_cast<double>(f.stemParams)),
               humanCount(f.stemFlopsPerToken), ""}, ""));
    for (const auto& s : segs) {
        spec::BlockFigures sum;
        std::vector<int> experts;
        std::vector<double> ks;
        std::string suffix, router;
        for (int i : s.layers) {
            const auto& bf = f.blocks[static_cast<size_t>(i)];
            const auto& b = flat.blocks[static_cast<size_t>(i)];
            sum.params += bf.params;
            sum.activeParams += bf.activeParams;
            sum.flopsPerToken += bf.flopsPerToken;
            sum.kvCachePerToken += bf.kvCachePerToken;
            if (b.kind != spec::BlockKind::Moe) continue;
            experts.push_back(bf.experts);
            ks.push_back(bf.k);
            router = std::string(spec::toString(b.router.kind));
            if (b.router.groups > 1) router += " " + std::to_string(b.router.topkGroups) + "/" + std::to_string(b.router.groups) + "g";
            suffix = (bf.zeroExperts ? "+" + std::to_string(bf.zeroExperts) + "z" : "") +
                     (b.sharedExperts ? "+" + std::to_string(b.sharedExperts) + "s" : "");
        }
        std::string e, k;
        if (!experts.empty()) {
            const auto [elo, ehi] = std::minmax_element(experts.begin(), experts.end());
            e = (*elo == *ehi ? std::to_string(*elo) : std::to_string(*elo) + ".." + std::to_string(*ehi)) + suffix;
            const auto [klo, khi] = std::minmax_element(ks.begin(), ks.end());
            k = *klo == *khi ? kText(*klo) : kText(*klo) + ".." + kText(*khi);
        }
        t.add(row({range(s.layers), s.kind, e, k, router, humanCount(static_cast<double>(sum.params)), humanCount(sum.activeParams),
                   humanCount(sum.flopsPerToken), sum.kvCachePerToken ? humanBytes(static_cast<double>(sum.kvCachePerToken) * bytes) : ""},
                  s.label));
    }
    t.add(row({"head", lm ? (m.head.tied ? "lm (tied)" : "lm") : "linear", "", "", "", humanCount(static_cast<double>(f.headParams)),
               humanCount(static_cast<double>(f.headParams)), humanCount(f.headFlopsPerToken), ""}, ""));
    t.separator();
    t.add(row({"total", "", "", "", "", humanCount(static_cast<double>(f.params)), humanCount(f.activeParams), humanCount(f.flopsPerToken),
               f.kvCachePerToken ? humanBytes(f.kvCacheBytesPerToken(dtype)) : ""}, ""));
    std::cout << t.str() << "\n";
    std::cout << "params: " << humanCount(static_cast<double>(f.params)) << " total, " << humanCount(f.activeParams)
              << " active per token; without the input " << (m.stem.kind == spec::StemKind::Embedding ? "embedding" : "stem") << " "
              << humanCount(static_cast<double>(f.paramsWithoutEmbedding)) << " total, " << humanCount(f.activeParamsWithoutEmbedding)
              << " active\n";
    if (const spec::PublishedCounts* pub = spec::findPublished(m)) {
        auto pct = [](double got, double want) {
            char b[32];
            std::snprintf(b, sizeof b, "%+.2f%%", 100 * (got - want) / want);
            return std::string(b);
        };
        const double total = spec::parameterCount(f, pub->totalConvention, false), active = spec::parameterCount(f, pub->activeConvention, true);
        std::cout << "published for " << pub->model << ": " << humanCount(pub->total) << " total (" << spec::toString(pub->totalConvention)
                  << "; here " << humanCount(total) << ", " << pct(total, pub->total) << "), " << humanCount(pub->active) << " active ("
                  << spec::toString(pub->activeConvention) << "; here " << humanCount(active) << ", " << pct(active, pub->active)
                  << ")\n  source: " << pub->source << "\n";
        if (!pub->discrepancy.empty()) std::cout << "  note: " << pub->discrepancy << "\n";
    }
    if (const std::string twin = spec::describeTwin(r.value()); !twin.empty()) std::cout << "training: " << twin << "\n";
    std::cout << "FLOPs per token (forward, attention at " << f.seqLen << " token" << (f.seqLen == 1 ? "" : "s") << " per sample): "
              << humanCount(f.flopsPerToken) << "\n";
    if (f.kvCachePerToken > 0)
        std::cout << "KV cache (" << dtype << "): " << humanBytes(f.kvCacheBytesPerToken(dtype)) << " per token over " << flat.blocks.size()
                  << " layers, " << humanBytes(f.kvCacheBytesPerToken(dtype) * f.seqLen) << " per sequence of " << f.seqLen << "\n";
    std::cout << "weights: ";
    bool first = true;
    for (auto dt : spec::dtypeNames()) {
        std::cout << (first ? "" : ", ") << dt << " " << humanBytes(static_cast<double>(f.params) * spec::bytesPerElement(dt));
        first = false;
    }
    std::cout << "\n(experts: routed FFN experts, +Nz zero-computation, +Ns shared; a group's rows sum its layers; active and FLOPs per "
                 "token, forward)\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "describe", "per-layer table of experts, k, router, params, active params, FLOPs and KV cache", "FILE",
    "Active parameters and FLOPs are per token, forward, with routed choices counted in expectation under\n"
    "uniform routing and attention at the project's tokens per sample. Linear(in,out) counts 2*in*out FLOPs;\n"
    "see the README for every convention. A layer group is one row per run of equal repeats (its first_dense\n"
    "repeats, then the rest); --layers lists every layer.",
    {{"json", "", "print the figures as JSON (one entry per layer, and per authored block)"},
     {"layers", "", "one row per layer, groups expanded"},
     {"dtype", "DTYPE", "element type of the KV cache: fp32, bf16 (default), fp16 or fp8"}},
    1, 1, run});

}  // namespace
