#include "moe/cluster/catalog.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>

#include <nlohmann/json.hpp>

namespace moe::cluster {
namespace detail {
const std::map<std::string, std::string>& builtinCatalogFiles();
}

namespace {

using Json = nlohmann::json;
namespace fs = std::filesystem;
const char* const kFiles[] = {"gpus.json", "links.json", "systems.json", "topologies.json", "clusters.json"};
const char* const kOptionalFile = "ep_kernels.json";

// Reads one catalog entry, collecting errors with "file: section[i].field" paths. Every number
// in an entry must name its source under "sources" (the catalog's rule, checked here).
class EntryReader {
public:
    EntryReader(const Json& j, std::string path, std::string file, spec::Diagnostics& errs)
        : m_j(j), m_path(std::move(path)), m_file(std::move(file)), m_errs(errs) {
        if (!j.is_object()) error("", "expected an object");
        else if (j.contains("sources") && j["sources"].is_object()) m_sources = &j["sources"];
    }
    void error(const std::string& field, const std::string& msg) {
        m_errs.push_back({m_path + (field.empty() ? "" : "." + field), msg, 0, 0, m_file});
    }
    std::string str(const char* key, bool required = true) {
        if (!m_j.is_object() || !m_j.contains(key)) {
            if (required) error(key, "missing");
            return {};
        }
        if (!m_j[key].is_string()) {
            error(key, "expected a string");
            return {};
        }
        return m_j[key].get<std::string>();
    }
    double num(const char* key, double lo, double hi, bool required = true, double def = 0) {
        if (!m_j.is_object() || !m_j.contains(key)) {
            if (required) error(key, "missing");
            return def;
        }
        return number(m_j[key], key, key, lo, hi);
    }
    double number(const Json& v, const std::string& field, const std::string& sourceKey, double lo, double hi) {
        if (!v.is_number()) {
            error(field, "expected a number");
            return lo;
        }
        const double x = v.get<double>();
        if (!(x >= lo && x <= hi)) {
            std::ostringstream s;
            s << x << " is out of range; expected " << lo << " to " << hi;
            error(field, s.str());
        }
        if (!m_sources || !m_sources->contains(sourceKey) || !(*m_sources)[sourceKey].is_string() ||
            (*m_sources)[sourceKey].get<std::string>().empty())
            error(field, "has no source: add \"sources\": {\"" + sourceKey + "\": \"where the number comes from\"}");
        return x;
    }
    bool flag(const char* key, bool def) {
        if (!m_j.is_object() || !m_j.contains(key)) return def;
        if (!m_j[key].is_boolean()) {
            error(key, "expected true or false");
            return def;
        }
        return m_j[key].get<bool>();
    }
    const Json& json() const { return m_j; }
    const std::string& path() const { return m_path; }

private:
    const Json& m_j;
    std::string m_path, m_file;
    spec::Diagnostics& m_errs;
    const Json* m_sources = nullptr;
};

// An optional count (SMs, CUs): absent is 0; a fraction is an error, not rounded.
int wholeNumber(EntryReader& r, const char* key) {
    const double x = r.num(key, 0, 1e5, false, 0);
    if (x != std::floor(x)) r.error(key, "expected a whole number");
    return static_cast<int>(x);
}

std::string joined(const std::vector<std::string>& v) {
    std::string s;
    for (const auto& x : v) s += (s.empty() ? "" : ", ") + x;
    return s;
}

template <class T>
const T* findByName(const std::vector<T>& v, const std::string& name) {
    for (const auto& x : v)
        if (x.name == name) return &x;
    return nullptr;
}

template <class T>
std::vector<std::string> namesOf(const std::vector<T>& v) {
    std::vector<std::string> n;
    for (const auto& x : v) n.push_back(x.name);
    return n;
}

std::string readFile(const fs::path& p, bool& ok) {
    std::ifstream in(p, std::ios::binary);
    ok = static_cast<bool>(in);
    std::ostringstream s;
    s << in.rdbuf();
    return s.str();
}

}  // namespace

long long TopologySpec::maxNicPorts() const {
    const long long r = switchRadix;
    switch (kind) {
    case TopologyKind::SingleSwitch: return r;
    case TopologyKind::RailsOnly:  // per rail
    case TopologyKind::RailFatTree: {
        // A non-blocking L-level fat tree of radix-r switches connects r^L / 2^(L-1) end points.
        long long ports = r;
        for (int l = 1; l < levels; ++l) ports = ports * r / 2;
        return ports;
    }
    }
    return r;
}

int ResolvedCluster::maxGpus() const {
    const long long ports = topology->maxNicPorts();
    long long nodes = 0;
    if (topology->kind == TopologyKind::RailsOnly) nodes = ports;  // one port per node on every rail
    else nodes = ports / std::max(1, system->nicsPerNode);
    nodes = std::max<long long>(nodes, 1);
    return static_cast<int>(std::min<long long>(nodes * system->gpusPerNode, 1 << 30));
}

std::string ResolvedCluster::checkGpuCount(int gpus) const {
    const int g = system->gpusPerNode;
    if (gpus < 1) return "needs at least 1 GPU";
    if (gpus > g && gpus % g != 0)
        return std::to_string(gpus) + " GPUs do not fill whole " + system->name + " nodes of " + std::to_string(g) +
               " GPUs; use up to " + std::to_string(g) + " GPUs or a multiple of " + std::to_string(g);
    if (gpus > maxGpus())
        return std::to_string(gpus) + " GPUs exceed what the " + topology->name + " topology of cluster " + cluster->name +
               " can connect (" + std::to_string(maxGpus()) + " GPUs at most)";
    return {};
}

spec::Result<Catalog> Catalog::parse(const std::map<std::string, std::string>& files, const std::string& origin) {
    return parse(files, origin, {});
}

spec::Result<Catalog> Catalog::parse(const std::map<std::string, std::string>& files, const std::string& origin,
                                     const std::vector<std::pair<std::string, std::string>>& overlays) {
    Catalog c;
    c.m_origin = origin;
    spec::Diagnostics errs;
    std::map<std::string, Json> docs;
    if (auto it = files.find(kOptionalFile); it != files.end()) {
        try {
            docs[kOptionalFile] = Json::parse(it->second);
        } catch (const Json::parse_error& e) {
            errs.push_back({"", std::string("not valid JSON: ") + e.what(), 0, 0, origin + "/" + kOptionalFile});
        }
    } else
        docs[kOptionalFile] = Json{{"ep_kernels", Json::array()}};
    for (const char* f : kFiles) {
        auto it = files.find(f);
        if (it == files.end()) {
            errs.push_back({"", std::string("missing catalog file ") + f, 0, 0, origin});
            continue;
        }
        try {
            docs[f] = Json::parse(it->second);
        } catch (const Json::parse_error& e) {
            errs.push_back({"", std::string("not valid JSON: ") + e.what(), 0, 0, origin + "/" + f});
        }
    }
    std::vector<Json> overlayDocs(overlays.size());
    for (size_t o = 0; o < overlays.size(); ++o) {
        try {
            overlayDocs[o] = Json::parse(overlays[o].second);
        } catch (const Json::parse_error& e) {
            errs.push_back({"", std::string("not valid JSON: ") + e.what(), 0, 0, overlays[o].first});
            continue;
        }
        const Json& d = overlayDocs[o];
        if (!d.is_object()) {
            errs.push_back({"", "a catalog overlay is an object with any of \"gpus\", \"links\", \"systems\", \"topologies\", \"clusters\"", 0, 0,
                            overlays[o].first});
            continue;
        }
        for (auto it = d.begin(); it != d.end(); ++it) {
            const std::string& k = it.key();
            const bool known = k == "comment" || k == "gpus" || k == "links" || k == "systems" || k == "topologies" || k == "clusters" ||
                               k == "ep_kernels";
            if (!known)
                errs.push_back({k, "unknown section; an overlay takes gpus, links, systems, topologies, clusters, ep_kernels (and comment)", 0, 0, overlays[o].first});
            else if (k != "comment" && !it.value().is_array())
                errs.push_back({k, "expected an array of entries", 0, 0, overlays[o].first});
        }
    }
    if (!errs.empty()) return errs;

    // The entries of one section: the shipped ones, then each overlay's in order; an overlay entry
    // with the name of an earlier one replaces it (whole), others are added.
    struct Item {
        const Json* j;
        std::string path, file;
    };
    auto section = [&](const char* file, const char* key) -> std::vector<Item> {
        std::vector<Item> items;
        const Json& d = docs[file];
        if (!d.is_object() || !d.contains(key) || !d[key].is_array()) {
            errs.push_back({key, std::string("expected an array \"") + key + "\"", 0, 0, origin + "/" + file});
            return items;
        }
        for (size_t i = 0; i < d[key].size(); ++i) items.push_back({&d[key][i], std::string(key) + "[" + std::to_string(i) + "]", origin + "/" + file});
        auto nameOf = [](const Json& j) { return j.is_object() && j.contains("name") && j["name"].is_string() ? j["name"].get<std::string>() : std::string(); };
        for (size_t o = 0; o < overlayDocs.size(); ++o) {
            const Json& od = overlayDocs[o];
            if (!od.contains(key)) continue;
            for (size_t i = 0; i < od[key].size(); ++i) {
                Item it{&od[key][i], std::string(key) + "[" + std::to_string(i) + "]", overlays[o].first};
                const std::string n = nameOf(*it.j);
                auto same = std::find_if(items.begin(), items.end(), [&](const Item& x) { return !n.empty() && nameOf(*x.j) == n; });
                if (same != items.end()) *same = it;
                else items.push_back(it);
            }
        }
        return items;
    };
    for (const Item& item : section("gpus.json", "gpus")) {
            EntryReader r(*item.j, item.path, item.file, errs);
            GpuSpec g;
            g.name = r.str("name");
            g.vendor = r.str("vendor");
            g.display = r.str("display", false);
            g.hbmGiB = r.num("hbm_gib", 1, 1e5);
            g.hbmTBs = r.num("hbm_tb_s", 0.01, 1e3);
            g.bf16Tflops = r.num("bf16_tflops", 1e-3, 1e6);  // from a CPU core to a GPU
            g.fp8Tflops = r.num("fp8_tflops", 1e-3, 1e6);
            g.gemmEfficiency = r.num("gemm_efficiency", 0.01, 1);
            g.hbmEfficiency = r.num("hbm_efficiency", 0.01, 1);
            g.launchLatencyUs = r.num("launch_latency_us", 0, 1e3, false, 0);
            g.computeUnits = wholeNumber(r, "compute_units");
            c.m_gpus.push_back(g);
        }
    for (const Item& item : section("links.json", "links")) {
            EntryReader r(*item.j, item.path, item.file, errs);
            LinkSpec l;
            l.name = r.str("name");
            l.display = r.str("display", false);
            const std::string kind = r.str("kind");
            if (kind == "scale_up") l.kind = LinkKind::ScaleUp;
            else if (kind == "host") l.kind = LinkKind::Host;
            else if (kind == "nic") l.kind = LinkKind::Nic;
            else if (!kind.empty()) r.error("kind", "\"" + kind + "\" is not a link kind; expected scale_up, host or nic");
            l.bwGBs = r.num("bw_gb_s", 0.1, 1e5);
            l.linksPerGpu = static_cast<int>(r.num("links_per_gpu", 1, 64, false, 1));
            l.collectiveEfficiency = r.num("collective_efficiency", 0.01, 1);
            l.p2pEfficiency = r.num("p2p_efficiency", 0.01, 1);
            l.nvls = r.flag("nvls", false);
            l.sharp = r.flag("sharp", false);
            if (l.nvls) {
                l.nvlsEfficiency = r.num("nvls_efficiency", 0.01, 1);
                l.nvlsLatencyUs = r.num("nvls_latency_us", 0, 1e4);
            }
            l.ncclChannels = wholeNumber(r, "nccl_channels");
            l.epDispatchExtraUs = r.num("ep_dispatch_extra_us", 0, 1e5, false, 0);
            l.epCombineExtraUs = r.num("ep_combine_extra_us", 0, 1e5, false, 0);
            const Json& pj = r.json().is_object() && r.json().contains("protocols") ? r.json()["protocols"] : Json();
            if (!pj.is_array() || pj.empty()) r.error("protocols", "expected a non-empty array of protocols");
            else
                for (size_t p = 0; p < pj.size(); ++p) {
                    const std::string pp = "protocols[" + std::to_string(p) + "]";
                    if (!pj[p].is_object() || !pj[p].contains("name") || !pj[p]["name"].is_string()) {
                        r.error(pp, "expected an object with a \"name\"");
                        continue;
                    }
                    ProtocolSpec ps;
                    ps.name = pj[p]["name"].get<std::string>();
                    const std::string sk = "protocols." + ps.name + ".";
                    auto field = [&](const char* k, double lo, double hi) {
                        if (!pj[p].contains(k)) {
                            r.error(pp + "." + k, "missing");
                            return lo;
                        }
                        return r.number(pj[p][k], pp + "." + k, sk + k, lo, hi);
                    };
                    ps.baseLatencyUs = field("base_latency_us", 0, 1e5);
                    ps.hopLatencyUs = field("hop_latency_us", 0, 1e5);
                    ps.bwFactor = field("bw_factor", 0.01, 1);
                    if (pj[p].contains("per_channel_max_gb_s")) ps.perChannelMaxGBs = field("per_channel_max_gb_s", 0.01, 1e5);
                    if (pj[p].contains("max_gb_s")) ps.maxGBs = field("max_gb_s", 0.01, 1e5);
                    l.protocols.push_back(ps);
                }
            if (item.j->is_object() && item.j->contains("sources") && (*item.j)["sources"].is_object())
                for (const auto& [k, v] : (*item.j)["sources"].items())
                    if (v.is_string()) l.sources[k] = v.get<std::string>();
            c.m_links.push_back(l);
        }
    for (const Item& item : section("systems.json", "systems")) {
            EntryReader r(*item.j, item.path, item.file, errs);
            SystemSpec s;
            s.name = r.str("name");
            s.display = r.str("display", false);
            s.gpu = r.str("gpu");
            s.scaleUp = r.str("scale_up");
            s.hostLink = r.str("host_link");
            s.nic = r.str("nic");
            const std::string fabric = r.str("fabric");
            if (fabric == "switch") s.fabric = FabricKind::Switch;
            else if (fabric == "mesh") s.fabric = FabricKind::Mesh;
            else if (!fabric.empty()) r.error("fabric", "\"" + fabric + "\" is not a fabric; expected switch or mesh");
            s.gpusPerNode = static_cast<int>(r.num("gpus_per_node", 1, 1024));
            s.nicsPerNode = static_cast<int>(r.num("nics_per_node", 1, 1024));
            if (!c.gpu(s.gpu) && !s.gpu.empty()) r.error("gpu", "unknown GPU \"" + s.gpu + "\"; known: " + joined(namesOf(c.m_gpus)));
            for (auto [key, val] : {std::pair{"scale_up", &s.scaleUp}, {"host_link", &s.hostLink}, {"nic", &s.nic}})
                if (!val->empty() && !c.link(*val)) r.error(key, "unknown link \"" + *val + "\"; known: " + joined(namesOf(c.m_links)));
            if (s.fabric == FabricKind::Mesh) {
                if (const LinkSpec* l = c.link(s.scaleUp); l && l->linksPerGpu != s.gpusPerNode - 1)
                    r.error("scale_up", "a full mesh of " + std::to_string(s.gpusPerNode) + " GPUs needs " +
                                            std::to_string(s.gpusPerNode - 1) + " links per GPU, link " + l->name + " has " +
                                            std::to_string(l->linksPerGpu));
            }
            if (s.nicsPerNode != s.gpusPerNode)
                r.error("nics_per_node", "the simulator models one NIC per GPU (rail per GPU); got " + std::to_string(s.nicsPerNode) +
                                             " NICs for " + std::to_string(s.gpusPerNode) + " GPUs");
            c.m_systems.push_back(s);
        }
    for (const Item& item : section("topologies.json", "topologies")) {
            EntryReader r(*item.j, item.path, item.file, errs);
            TopologySpec t;
            t.name = r.str("name");
            t.display = r.str("display", false);
            const std::string kind = r.str("kind");
            if (kind == "rail_fat_tree") t.kind = TopologyKind::RailFatTree;
            else if (kind == "rails_only") t.kind = TopologyKind::RailsOnly;
            else if (kind == "single_switch") t.kind = TopologyKind::SingleSwitch;
            else if (!kind.empty()) r.error("kind", "\"" + kind + "\" is not a topology; expected rail_fat_tree, rails_only or single_switch");
            t.switchRadix = static_cast<int>(r.num("switch_radix", 2, 4096));
            t.levels = static_cast<int>(r.num("levels", 1, 4));
            t.nodesPerLeaf = static_cast<int>(r.num("nodes_per_leaf", 1, 4096));
            t.oversubscription = r.num("oversubscription", 1, 64);
            c.m_topologies.push_back(t);
        }
    for (const Item& item : section("clusters.json", "clusters")) {
            EntryReader r(*item.j, item.path, item.file, errs);
            ClusterSpec cl;
            cl.name = r.str("name");
            cl.system = r.str("system");
            cl.topology = r.str("topology");
            if (!cl.system.empty() && !c.system(cl.system))
                r.error("system", "unknown system \"" + cl.system + "\"; known: " + joined(namesOf(c.m_systems)));
            if (!cl.topology.empty() && !c.topology(cl.topology))
                r.error("topology", "unknown topology \"" + cl.topology + "\"; known: " + joined(namesOf(c.m_topologies)));
            if (c.cluster(cl.name)) r.error("name", "duplicate cluster name \"" + cl.name + "\"");
            c.m_clusters.push_back(cl);
        }
    for (const Item& item : section("ep_kernels.json", "ep_kernels")) {
        EntryReader r(*item.j, item.path, item.file, errs);
        EpKernelSpec k;
        k.name = r.str("name");
        k.display = r.str("display", false);
        const std::string mode = r.str("mode");
        if (mode == "direct") k.mode = EpKernelMode::Direct;
        else if (mode == "node_forward") k.mode = EpKernelMode::NodeForward;
        else if (mode == "nccl") k.mode = EpKernelMode::Nccl;
        else if (!mode.empty()) r.error("mode", "\"" + mode + "\" is not a kernel mode; expected direct, node_forward or nccl");
        k.dispatchLatencyUs = r.num("dispatch_latency_us", 0, 1e5);
        k.combineLatencyUs = r.num("combine_latency_us", 0, 1e5);
        k.dispatchRdmaLatencyUs = r.num("dispatch_rdma_latency_us", 0, 1e5, false, 0);
        k.combineRdmaLatencyUs = r.num("combine_rdma_latency_us", 0, 1e5, false, 0);
        k.computeUnits = wholeNumber(r, "compute_units");
        if (item.j->is_object() && item.j->contains("vendors")) {
            const Json& v = (*item.j)["vendors"];
            if (!v.is_array() || v.empty()) r.error("vendors", "expected a list of GPU vendors, e.g. [\"nvidia\"]");
            else
                for (const Json& x : v) {
                    if (!x.is_string() || x.get<std::string>().empty()) r.error("vendors", "expected a list of GPU vendors, e.g. [\"nvidia\"]");
                    else k.vendors.push_back(x.get<std::string>());
                }
        }
        if (c.epKernel(k.name)) r.error("name", "duplicate kernel name \"" + k.name + "\"");
        c.m_epKernels.push_back(k);
    }
    if (!errs.empty()) return errs;
    return c;
}

namespace {

spec::Result<std::map<std::string, std::string>> readCatalogFiles(const std::string& dir) {
    std::map<std::string, std::string> files;
    spec::Diagnostics errs;
    for (const char* f : kFiles) {
        bool ok = false;
        std::string text = readFile(fs::path(dir) / f, ok);
        if (!ok) errs.push_back({"", std::string("cannot read catalog file ") + f, 0, 0, dir});
        else files[f] = std::move(text);
    }
    if (!errs.empty()) return errs;
    std::error_code ec;
    if (fs::exists(fs::path(dir) / kOptionalFile, ec)) {
        bool ok = false;
        std::string text = readFile(fs::path(dir) / kOptionalFile, ok);
        if (!ok) return spec::Diagnostics{{"", std::string("cannot read catalog file ") + kOptionalFile, 0, 0, dir}};
        files[kOptionalFile] = std::move(text);
    }
    return files;
}

}  // namespace

spec::Result<Catalog> Catalog::loadDir(const std::string& dir) {
    auto files = readCatalogFiles(dir);
    if (!files) return files.errors();
    return parse(files.value(), dir);
}

spec::Result<Catalog> Catalog::builtin() { return parse(detail::builtinCatalogFiles(), "built-in catalog"); }

spec::Result<Catalog> Catalog::loadDefault() { return loadDefault({}); }

spec::Result<Catalog> Catalog::loadDefault(const std::vector<std::string>& overlayFiles) {
    std::vector<std::pair<std::string, std::string>> overlays;
    spec::Diagnostics errs;
    std::vector<std::string> paths;
    for (const std::string& dir : userCatalogDirs()) {
        std::error_code ec;
        std::vector<std::string> found;
        for (const auto& e : fs::directory_iterator(dir, ec))
            if (e.path().extension() == ".json" && e.is_regular_file(ec)) found.push_back(e.path().string());
        std::sort(found.begin(), found.end());
        paths.insert(paths.end(), found.begin(), found.end());
    }
    paths.insert(paths.end(), overlayFiles.begin(), overlayFiles.end());
    for (const std::string& p : paths) {
        bool ok = false;
        std::string text = readFile(p, ok);
        if (!ok) errs.push_back({"", "cannot read catalog overlay", 0, 0, p});
        else overlays.emplace_back(p, std::move(text));
    }
    if (!errs.empty()) return errs;
    const std::string dir = locateCatalogDir();
    if (dir.empty()) return parse(detail::builtinCatalogFiles(), "built-in catalog", overlays);
    auto files = readCatalogFiles(dir);
    if (!files) return files.errors();
    return parse(files.value(), dir, overlays);
}

std::vector<std::string> userCatalogDirs() {
    std::vector<std::string> dirs;
    const char* home = std::getenv("HOME");
    auto base = [&](const char* env, const char* fallback) -> std::string {
        if (const char* v = std::getenv(env); v && *v) return v;
        if (home && *home) return std::string(home) + fallback;
        return {};
    };
    for (const std::string& b : {base("XDG_CONFIG_HOME", "/.config"), base("XDG_DATA_HOME", "/.local/share")}) {
        if (b.empty()) continue;
        const fs::path d = fs::path(b) / "moe-studio" / "catalog";
        std::error_code ec;
        if (fs::is_directory(d, ec)) dirs.push_back(d.string());
    }
    return dirs;
}

std::string locateCatalogDir() {
    auto good = [](const fs::path& p) {
        std::error_code ec;
        return fs::is_regular_file(p / "clusters.json", ec);
    };
    if (const char* env = std::getenv("MOE_CLUSTER_CATALOG"); env && *env) return env;
    std::error_code ec;
    const fs::path exe = fs::read_symlink("/proc/self/exe", ec);
    if (!ec) {
        const fs::path bin = exe.parent_path();
        for (const fs::path& p : {bin / ".." / MOE_CLUSTER_CATALOG_INSTALL_SUBDIR, bin / "catalog"})
            if (good(p)) return fs::weakly_canonical(p, ec).string();
    }
    if (good(MOE_CLUSTER_CATALOG_SOURCE_DIR)) return MOE_CLUSTER_CATALOG_SOURCE_DIR;
    return {};
}

const GpuSpec* Catalog::gpu(const std::string& n) const { return findByName(m_gpus, n); }
const LinkSpec* Catalog::link(const std::string& n) const { return findByName(m_links, n); }
const SystemSpec* Catalog::system(const std::string& n) const { return findByName(m_systems, n); }
const TopologySpec* Catalog::topology(const std::string& n) const { return findByName(m_topologies, n); }
const ClusterSpec* Catalog::cluster(const std::string& n) const { return findByName(m_clusters, n); }
bool EpKernelSpec::runsOn(const std::string& vendor) const {
    return vendors.empty() || std::find(vendors.begin(), vendors.end(), vendor) != vendors.end();
}

const EpKernelSpec* Catalog::epKernel(const std::string& n) const { return findByName(m_epKernels, n); }
std::vector<std::string> Catalog::clusterNames() const { return namesOf(m_clusters); }

LinkSpec* Catalog::mutableLink(const std::string& name) {
    for (auto& l : m_links)
        if (l.name == name) return &l;
    return nullptr;
}

spec::Result<ResolvedCluster> Catalog::resolve(const std::string& clusterName, const std::string& path) const {
    ResolvedCluster r;
    r.cluster = cluster(clusterName);
    if (!r.cluster)
        return spec::Diagnostics{{path, "unknown cluster \"" + clusterName + "\"; known clusters: " + joined(clusterNames()) +
                                            " (see 'moe clusters')"}};
    // Catalog::parse checked every reference, so these are present.
    r.system = system(r.cluster->system);
    r.topology = topology(r.cluster->topology);
    r.gpu = gpu(r.system->gpu);
    r.scaleUp = link(r.system->scaleUp);
    r.nic = link(r.system->nic);
    r.hostLink = link(r.system->hostLink);
    return r;
}

std::string toString(LinkKind k) {
    switch (k) {
    case LinkKind::ScaleUp: return "scale_up";
    case LinkKind::Host: return "host";
    case LinkKind::Nic: return "nic";
    }
    return "?";
}
std::string toString(FabricKind k) { return k == FabricKind::Switch ? "switch" : "mesh"; }
std::string toString(TopologyKind k) {
    switch (k) {
    case TopologyKind::RailFatTree: return "rail_fat_tree";
    case TopologyKind::RailsOnly: return "rails_only";
    case TopologyKind::SingleSwitch: return "single_switch";
    }
    return "?";
}

}  // namespace moe::cluster
