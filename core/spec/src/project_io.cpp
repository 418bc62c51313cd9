#include "moe/spec/project_io.h"

#include <filesystem>

#include "json_source.h"
#include "json_reader.h"
#include "moe/spec/atomic_file.h"
#include "moe/spec/validate.h"
#include "project_json.h"

namespace moe::spec {
namespace {

using detail::Json;

// Attaches line:column to a diagnostic from the nearest path that exists in the source.
void locate(Diagnostic& d, const detail::JsonSource& src) {
    std::string p = d.path;
    while (true) {
        if (auto it = src.positions.find(p); it != src.positions.end()) {
            // Unknown keys point at the key, not its value.
            if (auto kt = src.keyPositions.find(p); kt != src.keyPositions.end() && d.message.rfind("unknown key", 0) == 0)
                it = kt;
            d.line = it->second.line;
            d.column = it->second.column;
            return;
        }
        if (p.empty()) return;
        const size_t cut = p.find_last_of(".[");
        p = cut == std::string::npos ? std::string() : p.substr(0, cut);
    }
}

Json scheduleJson(const Schedule& s) {
    Json j;
    j["kind"] = toString(s.kind);
    if (s.kind == ScheduleKind::Explicit) j["values"] = s.values;
    else {
        j["min"] = s.min;
        j["max"] = s.max;
        if (s.kind == ScheduleKind::Wave) j["period"] = s.period;
    }
    return j;
}

Json routerJson(const RouterSpec& r) {
    using K = RouterKind;
    Json j;
    j["kind"] = toString(r.kind);
    if (r.k && r.kind != K::ExpertChoice && r.kind != K::Dynamic) j["k"] = *r.k;
    if (r.kind != K::Hash && r.kind != K::SigmoidBias) j["temperature"] = r.temperature;
    if (r.kind != K::Hash) j["noise"] = r.noise;
    if (r.kind == K::TopK || r.kind == K::SigmoidBias || r.kind == K::Sinkhorn) j["renormalize"] = r.renormalize;
    if (r.kind == K::ExpertChoice) j["capacity_factor"] = r.capacityFactor;
    if (r.kind == K::Dynamic) {
        j["tau"] = r.tau;
        j["min_experts"] = r.minExperts;
        j["max_experts"] = r.maxExperts;
    }
    if (r.kind == K::Unified) j["alpha"] = r.alpha;
    if (r.kind == K::Sinkhorn) j["iterations"] = r.iterations;
    if (r.kind == K::SigmoidBias) j["bias_update_rate"] = r.biasUpdateRate;
    if ((r.kind == K::TopK || r.kind == K::SigmoidBias) && r.groups > 1) {
        j["groups"] = r.groups;
        j["topk_groups"] = r.topkGroups;
    }
    return j;
}

// "bias" only when it differs from the default for the activation, so older files stay unchanged.
Json ffnJson(const FfnSpec& f) {
    Json j = {{"hidden", f.hidden}, {"activation", toString(f.activation)}};
    if (f.bias != !isGated(f.activation)) j["bias"] = f.bias;
    return j;
}

void attentionJson(const AttentionSpec& a, Json& j) {
    j["type"] = toString(a.kind);
    j["heads"] = a.heads;
    if (a.kind == AttentionKind::Gqa) j["kv_heads"] = a.kvHeads;
    if (a.kind != AttentionKind::Mla && a.headDim > 0) j["head_dim"] = a.headDim;
    j["causal"] = a.causal;
    if (a.kind != AttentionKind::Mla) j["qk_norm"] = a.qkNorm;
    j["window"] = a.window;
    j["bias"] = a.bias;
    if (a.sinks) j["sinks"] = true;
    if (a.kind == AttentionKind::Mla) {
        j["q_lora_rank"] = a.qLoraRank;
        j["kv_lora_rank"] = a.kvLoraRank;
        j["qk_nope_head_dim"] = a.qkNopeHeadDim;
        j["qk_rope_head_dim"] = a.qkRopeHeadDim;
        j["v_head_dim"] = a.vHeadDim;
    }
}

Json blockJson(const BlockSpec& b) {
    Json j;
    j["kind"] = toString(b.kind);
    if (!b.label.empty()) j["label"] = b.label;
    if (b.kind == BlockKind::Group) {
        j["repeat"] = b.repeat;
        if (b.firstDense > 0) {
            j["first_dense"] = b.firstDense;
            j["dense_ffn"] = ffnJson(b.denseFfn);
        }
        Json children = Json::array();
        for (const auto& c : b.children) children.push_back(blockJson(c));
        j["blocks"] = children;
        return j;
    }
    j["norm"] = toString(b.norm);
    j["residual"] = b.residual;
    if (b.kind == BlockKind::Attention) {
        attentionJson(b.attention, j);
        return j;
    }
    j["ffn"] = ffnJson(b.ffn);
    if (b.kind == BlockKind::Dense) return j;
    if (b.experts) j["experts"] = *b.experts;
    if (b.zeroExperts.total() > 0)
        j["zero_experts"] = {{"zero", b.zeroExperts.zero}, {"copy", b.zeroExperts.copy}, {"constant", b.zeroExperts.constant}};
    if (b.sharedExperts > 0) j["shared_experts"] = b.sharedExperts;
    j["router"] = routerJson(b.router);
    if (b.capacity.dropless) j["capacity"] = {{"dropless", true}};
    else j["capacity"] = {{"dropless", false}, {"factor", b.capacity.factor}, {"drop_policy", toString(b.capacity.dropPolicy)}};
    j["losses"] = {{"aux", b.losses.aux}, {"z", b.losses.z}};
    return j;
}

Json inputJson(const InputSpec& i) {
    Json in;
    in["dataset"] = toString(i.dataset);
    if (i.isText()) {
        in["corpus"] = i.corpus;
        in["seq_len"] = i.seqLen;
        return in;
    }
    in["tokens"] = toString(i.tokens);
    if (i.tokens == TokenMode::Patches) in["patch"] = i.patch;
    if (i.dataset == DatasetKind::Blobs || i.dataset == DatasetKind::ClusteredTokens) in["classes"] = i.classes;
    if (i.dataset == DatasetKind::ClusteredTokens) in["dims"] = i.dims;
    if (i.dataset != DatasetKind::FashionMnist) in["noise"] = i.noise;
    return in;
}

// Written under "stem" or "embedding"; a linear stem without positions keeps its two keys.
Json stemJson(const StemSpec& s) {
    Json j;
    if (s.kind == StemKind::Embedding) j["vocab"] = s.vocab;
    j["d_model"] = s.dModel;
    if (s.kind == StemKind::Linear) j["activation"] = toString(s.activation);
    if (s.kind == StemKind::Embedding || s.positions != PositionKind::None) j["positions"] = toString(s.positions);
    if (s.positions == PositionKind::Rope) j["rope_theta"] = s.ropeTheta;
    if (s.positions == PositionKind::Learned && s.maxPositions > 0) j["max_positions"] = s.maxPositions;
    return j;
}

}  // namespace

nlohmann::ordered_json toJson(const Project& p) {
    Json j;
    j["format"] = kProjectFormat;
    if (!p.description.empty()) j["description"] = p.description;
    const ModelSpec& m = p.model;
    Json mj;
    if (!m.name.empty()) mj["name"] = m.name;
    mj["input"] = inputJson(m.input);
    mj[m.stem.kind == StemKind::Embedding ? "embedding" : "stem"] = stemJson(m.stem);
    if (m.expertSchedule || m.kSchedule) {
        Json s = Json::object();
        if (m.expertSchedule) s["experts"] = scheduleJson(*m.expertSchedule);
        if (m.kSchedule) s["k"] = scheduleJson(*m.kSchedule);
        mj["schedule"] = s;
    }
    Json blocks = Json::array();
    for (const auto& b : m.blocks) blocks.push_back(blockJson(b));
    mj["blocks"] = blocks;
    mj["head"] = {{"norm", toString(m.head.norm)}};
    if (m.head.tied) mj["head"]["tied"] = true;
    j["model"] = mj;

    const TrainingSettings& t = p.training;
    Json tj;
    tj["batch"] = t.batch;
    tj["optimizer"] = toString(t.optimizer);
    tj["learning_rate"] = t.learningRate;
    if (t.weightDecay != 0.0) tj["weight_decay"] = t.weightDecay;
    if (t.optimizer == OptimizerKind::Sgd) tj["momentum"] = t.momentum;
    if (t.lrSchedule != LrSchedule::Constant) tj["lr_schedule"] = toString(t.lrSchedule);
    if (t.warmupSteps > 0) tj["warmup_steps"] = t.warmupSteps;
    if (t.epochs) tj["epochs"] = *t.epochs;
    if (t.steps) tj["steps"] = *t.steps;
    tj["seed"] = t.seed;
    tj["telemetry_interval"] = t.telemetryInterval;
    tj["train_samples"] = t.trainSamples;
    tj["test_samples"] = t.testSamples;
    if (t.device != "auto") tj["device"] = t.device;
    if (t.ep > 1) tj["ep"] = t.ep;
    if (t.augment.any()) tj["augment"] = {{"flip", t.augment.flip}, {"shift", t.augment.shift}};
    if (t.twin) {
        Json w = {{"d_model", t.twin->dModel}, {"layers", t.twin->layers}};
        if (t.twin->expertHidden > 0) w["expert_hidden"] = t.twin->expertHidden;
        if (t.twin->heads > 0) w["heads"] = t.twin->heads;
        if (t.twin->vocab > 0) w["vocab"] = t.twin->vocab;
        if (t.twin->seqLen > 0) w["seq_len"] = t.twin->seqLen;
        tj["twin"] = w;
    }
    j["training"] = tj;

    if (p.deployment) {
        const DeploymentSpec& d = *p.deployment;
        Json dj;
        dj["cluster"] = d.cluster;
        dj["gpus"] = d.gpus;
        dj["tokens_per_gpu"] = d.tokensPerGpu;
        dj["dtype"] = d.dtype;
        dj["dispatch_dtype"] = d.dispatchDtype;
        Json par = {{"ep", d.ep}, {"dp", d.dp}, {"tp", d.tp}};
        // Layout keys are written when they differ from their defaults, so older files round-trip unchanged.
        const DeploymentSpec def;
        if (d.pp != def.pp) par["pp"] = d.pp;
        if (d.vpp != def.vpp) par["vpp"] = d.vpp;
        if (d.cp != def.cp) par["cp"] = d.cp;
        if (d.etp != def.etp) par["etp"] = d.etp;
        if (d.firstStageLayers) par["first_stage_layers"] = d.firstStageLayers;
        if (d.lastStageLayers) par["last_stage_layers"] = d.lastStageLayers;
        if (d.sequenceParallel != def.sequenceParallel) par["sequence_parallel"] = d.sequenceParallel;
        if (d.epOverlap != def.epOverlap) par["ep_overlap"] = d.epOverlap;
        dj["parallel"] = par;
        if (d.microBatch != def.microBatch) dj["micro_batch"] = d.microBatch;
        if (d.globalBatch != def.globalBatch) dj["global_batch"] = d.globalBatch;
        if (d.seqLen != def.seqLen) dj["seq_len"] = d.seqLen;
        if (d.recompute != def.recompute) dj["recompute"] = d.recompute;
        if (d.zero != def.zero) dj["zero"] = d.zero;
        if (d.gradDtype != def.gradDtype) dj["grad_dtype"] = d.gradDtype;
        if (!d.routingMap.empty()) dj["routing_map"] = d.routingMap;
        dj["capacity_factor"] = d.capacityFactor;
        dj["dedup_tokens"] = d.dedupTokens;
        dj["routing"] = d.routing;
        if (!d.epKernel.empty()) dj["ep_kernel"] = d.epKernel;
        if (d.placement.roundRobin) dj["placement"] = "round_robin";
        else dj["placement"] = d.placement.gpuExperts;
        j["deployment"] = dj;
    }
    if (p.scenario) {
        Json sj;
        sj["title"] = p.scenario->title;
        Json steps = Json::array();
        for (const auto& s : p.scenario->steps) {
            Json st;
            st["title"] = s.title;
            st["text"] = s.text;
            if (s.trainSteps) st["train_steps"] = s.trainSteps;
            if (!s.edits.is_null() && !s.edits.empty()) st["edits"] = s.edits;
            if (!s.view.empty()) st["view"] = s.view;
            if (s.compareRuns) st["compare_runs"] = true;
            steps.push_back(st);
        }
        sj["steps"] = steps;
        j["scenario"] = sj;
    }
    return j;
}

std::string serializeProject(const Project& p) { return toJson(p).dump(2) + "\n"; }

Result<Project> parseProject(const std::string& text, const std::string& fileName) {
    const detail::JsonSource src = detail::parseJsonWithPositions(text);
    if (!src.error.empty()) {
        return Diagnostics{{"", "not valid JSON: " + src.error, src.errorPos.line, src.errorPos.column, fileName}};
    }
    detail::ReadContext ctx;
    Project p = detail::readProject(ctx, src.root);
    if (ctx.errors.empty()) ctx.errors = validateProject(p);
    if (ctx.errors.size() > detail::ReadContext::kMaxErrors) {
        ctx.omitted += ctx.errors.size() - detail::ReadContext::kMaxErrors;
        ctx.errors.resize(detail::ReadContext::kMaxErrors);
    }
    if (!ctx.errors.empty()) {
        for (auto& d : ctx.errors) {
            d.file = fileName;
            locate(d, src);
        }
        if (ctx.omitted > 0)
            ctx.errors.push_back({"", "... and " + std::to_string(ctx.omitted) + " more errors (only the first " +
                                          std::to_string(detail::ReadContext::kMaxErrors) + " are shown)",
                                  0, 0, fileName});
        return ctx.errors;
    }
    for (auto& d : p.migrations) {
        d.file = fileName;
        locate(d, src);
    }
    return p;
}

Result<Project> loadProject(const std::string& path) {
    std::string text, err;
    // Projects are kilobytes (a model at real size included); a file this large is not one, and
    // reading it whole would cost memory before anything could say so.
    std::error_code ec;
    if (const auto size = std::filesystem::file_size(path, ec); !ec && size > detail::kMaxProjectBytes)
        return Diagnostics{{"", "the file is " + std::to_string(size) + " bytes; a project is at most " + std::to_string(detail::kMaxProjectBytes) +
                                    " bytes (64 MiB)", 0, 0, path}};
    if (!readFile(path, text, err)) return Diagnostics{{"", err, 0, 0, path}};
    return parseProject(text, path);
}

std::string saveProject(const Project& p, const std::string& path) { return writeFileAtomic(path, serializeProject(p)); }

namespace {

// Sets `value` at a dotted path with [i] and [*] (every element) segments.
bool setPath(Json& node, const std::string& path, size_t pos, const Json& value, std::string& error) {
    if (pos >= path.size()) {
        node = value;
        return true;
    }
    if (path[pos] == '.') ++pos;
    if (path[pos] == '[') {
        const size_t close = path.find(']', pos);
        if (close == std::string::npos) {
            error = "missing ']'";
            return false;
        }
        const std::string idx = path.substr(pos + 1, close - pos - 1);
        if (!node.is_array()) {
            error = "'" + path.substr(0, pos) + "' is not an array";
            return false;
        }
        if (idx == "*") {
            // In a mixed list (attention and moe layers of a group), "[*].router.k" means every
            // element that has a router: elements without the next key are skipped, unless none
            // has it (then the key is set on all of them).
            std::string next;
            if (close + 1 < path.size() && path[close + 1] == '.') {
                const size_t end = path.find_first_of(".[", close + 2);
                next = path.substr(close + 2, end == std::string::npos ? std::string::npos : end - close - 2);
            }
            bool someHave = false;
            for (const auto& e : node) someHave = someHave || (!next.empty() && e.is_object() && e.contains(next));
            for (auto& e : node) {
                if (someHave && !(e.is_object() && e.contains(next))) continue;
                if (!setPath(e, path, close + 1, value, error)) return false;
            }
            return true;
        }
        size_t i = 0;
        try {
            i = std::stoul(idx);
        } catch (...) {
            error = "'" + idx + "' is not an index";
            return false;
        }
        if (i >= node.size()) {
            error = "index " + idx + " is past the end of '" + path.substr(0, pos) + "'";
            return false;
        }
        return setPath(node[i], path, close + 1, value, error);
    }
    const size_t end = path.find_first_of(".[", pos);
    const std::string key = path.substr(pos, end == std::string::npos ? std::string::npos : end - pos);
    if (!node.is_object()) {
        error = "'" + path.substr(0, pos) + "' is not an object";
        return false;
    }
    return setPath(node[key], path, end == std::string::npos ? path.size() : end, value, error);
}

}  // namespace

Result<Project> applyEdits(const Project& p, const nlohmann::ordered_json& edits) {
    Json j = toJson(p);
    for (auto it = edits.begin(); it != edits.end(); ++it) {
        std::string error;
        if (!setPath(j, it.key(), 0, it.value(), error))
            return Diagnostics{{it.key(), "cannot apply this edit: " + error}};
    }
    return parseProject(j.dump(2));
}

}  // namespace moe::spec
