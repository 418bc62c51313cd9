// `moe clusters`: the hardware catalog, one row per cluster.
#include <iostream>

#include "cli_command.h"
#include "cluster_option.h"
#include "moe/cluster/catalog.h"

namespace {

namespace cl = moe::cluster;
using moe::cli::fixed;

int run(const moe::cli::ParsedArgs& a) {
    auto cat = moe::cli::loadCatalog(a);
    if (!cat) {
        std::cerr << cat.message() << "\n";
        return 1;
    }
    const cl::Catalog& c = cat.value();
    if (a.flag("json")) {
        nlohmann::ordered_json j;
        j["catalog"] = c.origin();
        j["clusters"] = nlohmann::ordered_json::array();
        for (const auto& cs : c.clusters()) {
            auto r = c.resolve(cs.name, "").value();
            nlohmann::ordered_json e;
            e["name"] = cs.name;
            e["system"] = r.system->name;
            e["gpu"] = r.gpu->name;
            e["gpus_per_node"] = r.system->gpusPerNode;
            e["scale_up"] = {{"link", r.scaleUp->name}, {"fabric", cl::toString(r.system->fabric)}, {"gb_s_per_gpu",
                              r.scaleUp->bwGBs * r.scaleUp->linksPerGpu}, {"nvls", r.scaleUp->nvls}};
            e["nic"] = {{"link", r.nic->name}, {"gb_s", r.nic->bwGBs}, {"per_node", r.system->nicsPerNode}};
            e["topology"] = {{"name", r.topology->name}, {"kind", cl::toString(r.topology->kind)}};
            e["max_gpus"] = r.maxGpus();
            e["hbm_gib"] = r.gpu->hbmGiB;
            e["hbm_tb_s"] = r.gpu->hbmTBs;
            e["bf16_tflops"] = r.gpu->bf16Tflops;
            e["fp8_tflops"] = r.gpu->fp8Tflops;
            j["clusters"].push_back(e);
        }
        moe::cli::printJson(j);
        return 0;
    }
    moe::cli::Table t({"cluster", "GPU", "HBM", "BF16 TFLOP/s", "scale-up (per GPU)", "NIC", "topology", "max GPUs"});
    for (const auto& cs : c.clusters()) {
        auto r = c.resolve(cs.name, "").value();
        const std::string su = r.scaleUp->name + " " + fixed(r.scaleUp->bwGBs * r.scaleUp->linksPerGpu, 0) + " GB/s" +
                               (r.system->fabric == cl::FabricKind::Mesh ? " mesh" : "") + (r.scaleUp->nvls ? " +NVLS" : "");
        t.add({cs.name, r.gpu->name, fixed(r.gpu->hbmGiB, 0) + " GiB " + fixed(r.gpu->hbmTBs, r.gpu->hbmTBs < 0.1 ? 3 : 2) + " TB/s", fixed(r.gpu->bf16Tflops, r.gpu->bf16Tflops < 10 ? 2 : 0), su,
               std::to_string(r.system->nicsPerNode) + " x " + r.nic->name, r.topology->name, std::to_string(r.maxGpus())});
    }
    std::cout << t.str() << "\ncatalog: " << c.origin() << " (every number has its source there)\n";
    return 0;
}

MOE_CLI_COMMAND(moe::cli::CommandSpec{
    "clusters", "list the hardware catalog: clusters, GPUs, fabrics, NICs, topologies", "",
    "The catalog is JSON under share/moe-studio/catalog (or core/cluster/catalog in the source tree), every\n"
    "number with its source; MOE_CLUSTER_CATALOG=DIR points at another copy. Bandwidths are per direction.",
    {{"json", "", "print the catalog as JSON"}, moe::cli::kCatalogOverlayOption}, 0, 0, run});

}  // namespace
