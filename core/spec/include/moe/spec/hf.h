#pragma once
// Hugging Face `config.json` files in and out: the transformer MoE families people publish
// (Mixtral, Qwen2-MoE, Qwen3-MoE, DeepSeek-V2/V3, Kimi-K2, gpt-oss, OLMoE, DBRX, GLM-4.5) read into
// a project holding the model at its real size, and a project's model written back as one.
// Parameter counts as the models' authors publish them are kept in a table with their sources.

#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "moe/spec/derived.h"
#include "moe/spec/diagnostic.h"
#include "moe/spec/project.h"

namespace moe::spec {

// The model_type values the importer reads, in the order they are listed to users.
const std::vector<std::string>& hfModelTypes();

struct HfImport {
    Project project;
    std::string modelType;             // config.json's model_type
    std::vector<std::string> notes;    // what the spec approximates or leaves out, in words
};

// Reads config.json text. `fileName` names the file in messages; `name` (when not empty) becomes
// the model's name, else one is made from the file name. Errors name the field (JSON path) and
// what would be valid; an unknown model_type lists the known ones.
Result<HfImport> importHfConfig(const std::string& text, const std::string& fileName, const std::string& name = {});

// Writes a project's model as a config.json of `modelType` ("" picks the family its features
// match: MLA -> deepseek_v3, sinks or alternating windows -> gpt_oss, shared experts ->
// qwen2_moe, QK-norm -> qwen3_moe, else mixtral). Errors say what the family cannot express.
Result<nlohmann::ordered_json> exportHfConfig(const Project& p, const std::string& modelType = {});

// Which parameters a published count includes: all of them, all but the input embedding table,
// or all but the embedding table and the output head (the conventions authors use).
enum class CountConvention { All, WithoutEmbedding, WithoutEmbeddingAndHead };
std::string_view toString(CountConvention c);
// The count of a model's figures under a convention (total, or active per token).
double parameterCount(const ModelFigures& f, CountConvention c, bool active);

// Total and active parameters as a model's authors publish them, with the convention each uses
// (found by which one the published, rounded figure fits) and the unit of its last digit.
struct PublishedCounts {
    std::string model;                 // "DeepSeek-V3"
    std::string modelType;             // config.json model_type
    double total = 0, totalUnit = 0;   // 671e9, published to 1e9
    CountConvention totalConvention = CountConvention::All;
    double active = 0, activeUnit = 0;
    CountConvention activeConvention = CountConvention::All;
    std::string source;                // where the figures are published
    // The shape that identifies the model in a spec: d_model, flattened layers, routed experts, vocab.
    int dModel = 0, layers = 0, experts = 0, vocab = 0;
    // Where the published figure cannot be matched within 0.5% from the released config, why.
    std::string discrepancy;
};
const std::vector<PublishedCounts>& publishedCounts();
// The entry whose shape matches the model, or nullptr.
const PublishedCounts* findPublished(const ModelSpec& m);

}  // namespace moe::spec
