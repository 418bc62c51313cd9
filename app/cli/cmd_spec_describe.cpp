#include <iostream>

#include "cli_command.h"
#include "moe/spec/derived.h"
#include "moe/spec/project_io.h"

namespace {

using moe::cli::fixed;
using moe::cli::humanBytes;
using moe::cli::humanCount;
namespace spec = moe::spec;

std::string routerText(const spec::ModelSpec& m, int i) {
    const auto& b = m.blocks[static_cast<size_t>(i)];
    return std::string(spec::toString(b.router.kind));
}

int run(const moe::cli::ParsedArgs& a) {
    auto r = spec::loadProject(a.positional()[0]);
    if (!r) {
        std::cerr << r.message() << "\n";
        return 1;
    }
    const spec::ModelSpec& m = r->model;
    const auto f = spec::computeFigures(m);
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["name"] = m.name;
        j["tokens_per_sample"] = m.input.tokensPerSample();
        j["token_dim"] = m.input.tokenDim();
        j["d_model"] = m.stem.dModel;
        j["blocks"] = nlohmann::ordered_json::array();
        for (size_t i = 0; i < m.blocks.size(); ++i) {
            const auto& b = m.blocks[i];
            const auto& bf = f.blocks[i];
            nlohmann::ordered_json e;
            e["index"] = i;
            e["kind"] = spec::toString(b.kind);
            if (b.kind == spec::BlockKind::Moe) {
                e["experts"] = bf.experts;
                e["zero_experts"] = bf.zeroExperts;
                e["shared_experts"] = b.sharedExperts;
                e["k"] = bf.k;
                e["router"] = routerText(m, static_cast<int>(i));
            }
            e["params"] = bf.params;
            e["active_params"] = bf.activeParams;
            e["flops_per_token"] = bf.flopsPerToken;
            j["blocks"].push_back(e);
        }
        j["stem_params"] = f.stemParams;
        j["head_params"] = f.headParams;
        j["params"] = f.params;
        j["active_params"] = f.activeParams;
        j["flops_per_token"] = f.flopsPerToken;
        nlohmann::ordered_json mem;
        for (auto dt : spec::dtypeNames()) mem[std::string(dt)] = static_cast<double>(f.params) * spec::bytesPerElement(dt);
        j["weight_bytes"] = mem;
        moe::cli::printJson(j);
        return 0;
    }
    std::cout << (m.name.empty() ? a.positional()[0] : m.name) << "\n";
    std::cout << "input: " << spec::toString(m.input.dataset) << ", " << m.input.tokensPerSample() << " token(s) of "
              << m.input.tokenDim() << " features per sample, " << m.input.numClasses() << " classes; d_model "
              << m.stem.dModel << "\n\n";
    bool labels = false;
    for (const auto& b : m.blocks) labels = labels || !b.label.empty();
    // The label column only appears when some block has a label.
    auto row = [&](std::vector<std::string> r, const std::string& label) {
        if (labels) r.insert(r.begin() + 1, label);
        return r;
    };
    std::vector<std::string> header = {"block", "kind", "experts", "k", "router", "params", "active", "FLOPs/token"};
    moe::cli::Table t(row(header, "label"));
    t.add(row({"stem", "linear", "", "", "", humanCount(static_cast<double>(f.stemParams)), humanCount(static_cast<double>(f.stemParams)),
           humanCount(2.0 * m.input.tokenDim() * m.stem.dModel)}, ""));
    for (size_t i = 0; i < m.blocks.size(); ++i) {
        const auto& b = m.blocks[i];
        const auto& bf = f.blocks[i];
        std::string experts, k, router;
        if (b.kind == spec::BlockKind::Moe) {
            experts = std::to_string(bf.experts);
            if (bf.zeroExperts) experts += "+" + std::to_string(bf.zeroExperts) + "z";
            if (b.sharedExperts) experts += "+" + std::to_string(b.sharedExperts) + "s";
            k = bf.k == static_cast<int>(bf.k) ? std::to_string(static_cast<int>(bf.k)) : fixed(bf.k, 2);
            router = routerText(m, static_cast<int>(i));
        }
        t.add(row({std::to_string(i), std::string(spec::toString(b.kind)), experts, k, router,
                   humanCount(static_cast<double>(bf.params)), humanCount(bf.activeParams), humanCount(bf.flopsPerToken)},
                  b.label));
    }
    const double headFlops = 2.0 * m.stem.dModel * m.input.numClasses() / m.input.tokensPerSample();
    t.add(row({"head", "linear", "", "", "", humanCount(static_cast<double>(f.headParams)), humanCount(static_cast<double>(f.headParams)),
               humanCount(headFlops)}, ""));
    t.separator();
    t.add(row({"total", "", "", "", "", humanCount(static_cast<double>(f.params)), humanCount(f.activeParams), humanCount(f.flopsPerToken)}, ""));
    std::cout << t.str();
    std::cout << "\nweights: ";
    bool first = true;
    for (auto dt : spec::dtypeNames()) {
        std::cout << (first ? "" : ", ") << dt << " " << humanBytes(static_cast<double>(f.params) * spec::bytesPerElement(dt));
        first = false;
    }
    std::cout << "\n(experts: routed FFN experts, +Nz zero-computation, +Ns shared; active and FLOPs per token, forward)\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "describe", "per-block table of experts, k, router, params, active params and FLOPs", "FILE",
    "Active parameters and FLOPs are per token, forward, with routed choices counted in expectation under\n"
    "uniform routing. Linear(in,out) counts 2*in*out FLOPs; see the README for every convention.",
    {{"json", "", "print the figures as JSON"}}, 1, 1, run});

}  // namespace
