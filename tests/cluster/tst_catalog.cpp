// The hardware catalog: the shipped files load, agree with the built-in copy, every number has a
// source, references resolve, and bad input gives errors that name the place.
#include <QtTest>
#include <QDir>
#include <QTemporaryDir>

#include <fstream>
#include <sstream>

#include "catalog_files.h"
#include "moe/cluster/catalog.h"

using namespace moe::cluster;

namespace {

std::map<std::string, std::string> sourceFiles() { return shippedCatalogFiles(); }

bool anyMessageContains(const moe::spec::Diagnostics& d, const std::string& text) {
    for (const auto& e : d)
        if ((e.path + ": " + e.message).find(text) != std::string::npos) return true;
    return false;
}

}  // namespace

class TestCatalog : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void builtinMatchesSourceTree() {
        auto b = Catalog::builtin();
        QVERIFY2(b.ok(), b.message().c_str());
        auto s = Catalog::loadDir(std::string(MOE_SOURCE_DIR) + "/core/cluster/catalog");
        QVERIFY2(s.ok(), s.message().c_str());
        QCOMPARE(b->clusters().size(), s->clusters().size());
        QCOMPARE(b->gpus().size(), s->gpus().size());
        QCOMPARE(b->links().size(), s->links().size());
    }

    void containsTheIssuesHardware() {
        auto c = Catalog::builtin().value();
        for (const char* g : {"h100-sxm", "h200", "b200", "mi300x", "mi325x", "mi355x"}) QVERIFY2(c.gpu(g), g);
        for (const char* l : {"nvlink4", "nvlink5", "xgmi3", "pcie5", "ib-ndr-cx7", "roce-pollara400", "roce-thor2"}) QVERIFY2(c.link(l), l);
        QCOMPARE(c.gpu("h100-sxm")->hbmTBs, 3.35);
        QCOMPARE(c.gpu("b200")->bf16Tflops, 2250.0);
        QCOMPARE(c.gpu("mi300x")->bf16Tflops, 1307.4);
        QCOMPARE(c.link("nvlink4")->bwGBs, 450.0);
        QCOMPARE(c.link("xgmi3")->linksPerGpu, 7);
        QVERIFY(c.link("nvlink4")->nvls);
        QVERIFY(!c.link("xgmi3")->nvls);
        for (const auto& cl : c.clusters()) {
            auto r = c.resolve(cl.name, "deployment.cluster");
            QVERIFY2(r.ok(), r.message().c_str());
            QVERIFY(r->maxGpus() >= 8);
        }
    }

    void everyNumberNeedsASource() {
        auto files = sourceFiles();
        auto& g = files["gpus.json"];
        const std::string key = "\"hbm_tb_s\": \"NVIDIA H100 datasheet (SXM: 3.35 TB/s)\",";
        const auto pos = g.find(key);
        QVERIFY(pos != std::string::npos);
        g.erase(pos, key.size());
        auto r = Catalog::parse(files, "test");
        QVERIFY(!r.ok());
        QVERIFY2(anyMessageContains(r.errors(), "gpus[0].hbm_tb_s: has no source"), r.message().c_str());
    }

    void danglingReferencesAreErrors() {
        auto files = sourceFiles();
        auto& s = files["clusters.json"];
        const auto pos = s.find("\"topology\": \"rails-only\"");
        QVERIFY(pos != std::string::npos);
        s.replace(pos, std::string("\"topology\": \"rails-only\"").size(), "\"topology\": \"rails-onyl\"");
        auto r = Catalog::parse(files, "test");
        QVERIFY(!r.ok());
        QVERIFY2(anyMessageContains(r.errors(), "unknown topology \"rails-onyl\"; known: rail-fat-tree"), r.message().c_str());
    }

    void brokenJsonNamesTheFile() {
        auto files = sourceFiles();
        files["links.json"] = "{ \"links\": [ ";
        auto r = Catalog::parse(files, "cat");
        QVERIFY(!r.ok());
        QCOMPARE(QString::fromStdString(r.errors()[0].file), QString("cat/links.json"));
    }

    void unknownClusterListsKnownOnes() {
        auto c = Catalog::builtin().value();
        auto r = c.resolve("h100-cluster", "deployment.cluster");
        QVERIFY(!r.ok());
        QCOMPARE(QString::fromStdString(r.errors()[0].path), QString("deployment.cluster"));
        QVERIFY(r.errors()[0].message.find("hgx-h100") != std::string::npos);
        QVERIFY(r.errors()[0].message.find("mi300x-8") != std::string::npos);
    }

    void gpuCountsTheTopologyCannotHold() {
        auto c = Catalog::builtin().value();
        auto one = c.resolve("hgx-h100-1switch", "").value();
        QCOMPARE(one.maxGpus(), 64);  // 64 ports / 8 NICs per node = 8 nodes
        QVERIFY(one.checkGpuCount(64).empty());
        QVERIFY(one.checkGpuCount(72).find("at most") != std::string::npos);
        auto big = c.resolve("hgx-h100", "").value();
        QVERIFY(big.checkGpuCount(16384).empty());
        QVERIFY(big.checkGpuCount(12).find("multiple of 8") != std::string::npos);
        QVERIFY(big.checkGpuCount(4).empty());
        auto amd = c.resolve("mi300x-8", "").value();
        QCOMPARE(amd.maxGpus(), 8192);  // 2-level fat tree of 128-port switches
    }

    // CPU ranks of one machine: any rank count up to the system's 128 is one node (no network),
    // the loopback is both the scale-up link and the NIC, and a rank's compute is a CPU core's.
    void oneMachineOfCpuRanks() {
        auto c = Catalog::builtin().value();
        auto local = c.resolve("localhost-gloo", "").value();
        QCOMPARE(local.maxGpus(), 128);
        for (int n : {2, 3, 7, 128}) QVERIFY2(local.checkGpuCount(n).empty(), local.checkGpuCount(n).c_str());
        QVERIFY(local.checkGpuCount(256).find("at most") != std::string::npos);  // a second machine is not in this cluster
        QCOMPARE(local.scaleUp->name, std::string("gloo-loopback"));
        QCOMPARE(local.nic, local.scaleUp);
        QVERIFY(local.gpu->bf16Tflops < 1);  // below the smallest GPU: the loader takes CPU cores
        QVERIFY(local.scaleUp->sources.at("p2p_efficiency").find("moe collective alltoall --measure --nproc 2") != std::string::npos);
    }

    void locatesTheEditableCatalog() {
        const std::string dir = locateCatalogDir();
        QVERIFY(!dir.empty());
        auto r = Catalog::loadDefault();
        QVERIFY2(r.ok(), r.message().c_str());
    }

    // SMs/CUs are whole numbers with a source, on GPUs and on expert-parallel kernels.
    void computeUnitsAreWholeAndSourced() {
        auto c = Catalog::builtin().value();
        QCOMPARE(c.gpu("h100-sxm")->computeUnits, 132);
        QCOMPARE(c.gpu("mi300x")->computeUnits, 304);
        QCOMPARE(c.epKernel("deepep-normal")->computeUnits, 20);
        QCOMPARE(c.epKernel("deepep-ll")->computeUnits, 0);
        auto kernel = [](const std::string& units, const std::string& source) {
            return R"({"ep_kernels": [{"name": "k", "mode": "direct", "dispatch_latency_us": 1, "combine_latency_us": 1, "compute_units": )" + units +
                   R"(, "sources": {"dispatch_latency_us": "x", "combine_latency_us": "x")" + source + "}}]}";
        };
        auto ok = Catalog::parse(sourceFiles(), "catalog", {{"k.json", kernel("24", R"(, "compute_units": "x")")}});
        QVERIFY2(ok.ok(), ok.message().c_str());
        QCOMPARE(ok->epKernel("k")->computeUnits, 24);
        auto fraction = Catalog::parse(sourceFiles(), "catalog", {{"k.json", kernel("20.5", R"(, "compute_units": "x")")}});
        QVERIFY(!fraction.ok());
        QVERIFY2(anyMessageContains(fraction.errors(), "compute_units: expected a whole number"), fraction.message().c_str());
        auto unsourced = Catalog::parse(sourceFiles(), "catalog", {{"k.json", kernel("20", "")}});
        QVERIFY(!unsourced.ok());
        QVERIFY2(anyMessageContains(unsourced.errors(), "compute_units: has no source"), unsourced.message().c_str());
    }

    // Overlays replace entries by name or add new ones, are checked as the shipped files are, and
    // their errors name the overlay file.
    void overlaysReplaceAndAdd() {
        const std::string over = R"({"comment": "test", "links": [
            {"name": "nvlink4", "kind": "scale_up", "bw_gb_s": 450, "collective_efficiency": 0.5, "p2p_efficiency": 0.8,
             "protocols": [{"name": "Simple", "base_latency_us": 9, "hop_latency_us": 3, "bw_factor": 1}],
             "sources": {"bw_gb_s": "x", "collective_efficiency": "x", "p2p_efficiency": "x", "protocols.Simple.base_latency_us": "x",
                         "protocols.Simple.hop_latency_us": "x", "protocols.Simple.bw_factor": "x"}}],
          "clusters": [{"name": "my-h100", "system": "hgx-h100", "topology": "rail-fat-tree"}]})";
        auto c = Catalog::parse(sourceFiles(), "catalog", {{"mine.json", over}});
        QVERIFY2(c.ok(), c.message().c_str());
        QCOMPARE(c->link("nvlink4")->collectiveEfficiency, 0.5);
        QCOMPARE(c->link("nvlink4")->protocols.size(), size_t(1));
        QVERIFY(c->cluster("my-h100") != nullptr);
        QCOMPARE(c->links().size(), Catalog::builtin()->links().size());

        auto noSource = Catalog::parse(sourceFiles(), "catalog",
                                       {{"bad.json", R"({"gpus": [{"name": "g", "vendor": "v", "hbm_gib": 1, "hbm_tb_s": 1, "bf16_tflops": 1,
                                          "fp8_tflops": 1, "gemm_efficiency": 0.5, "hbm_efficiency": 0.5, "sources": {}}]})"}});
        QVERIFY(!noSource.ok());
        QCOMPARE(QString::fromStdString(noSource.errors()[0].file), QString("bad.json"));
        QVERIFY(anyMessageContains(noSource.errors(), "has no source"));
        auto unknown = Catalog::parse(sourceFiles(), "catalog", {{"typo.json", R"({"link": []})"}});
        QVERIFY(!unknown.ok());
        QVERIFY(anyMessageContains(unknown.errors(), "link: unknown section"));
        auto notJson = Catalog::parse(sourceFiles(), "catalog", {{"broken.json", "{"}});
        QVERIFY(!notJson.ok());
        QCOMPARE(QString::fromStdString(notJson.errors()[0].file), QString("broken.json"));
    }

    // The user catalog folder (XDG config home) applies to every loadDefault, then the files given.
    void userCatalogFolderApplies() {
        QTemporaryDir home;
        const QByteArray oldConfig = qgetenv("XDG_CONFIG_HOME"), oldData = qgetenv("XDG_DATA_HOME");
        qputenv("XDG_CONFIG_HOME", home.filePath("config").toUtf8());
        qputenv("XDG_DATA_HOME", home.filePath("data").toUtf8());
        QVERIFY(QDir().mkpath(home.filePath("config/moe-studio/catalog")));
        {
            std::ofstream f(home.filePath("config/moe-studio/catalog/a.json").toStdString());
            f << R"({"clusters": [{"name": "user-cluster", "system": "hgx-h100", "topology": "rail-fat-tree"}]})";
        }
        QCOMPARE(userCatalogDirs().size(), size_t(1));
        auto c = Catalog::loadDefault();
        QVERIFY2(c.ok(), c.message().c_str());
        QVERIFY(c->cluster("user-cluster") != nullptr);
        auto missing = Catalog::loadDefault({home.filePath("none.json").toStdString()});
        QVERIFY(!missing.ok());
        QVERIFY(anyMessageContains(missing.errors(), "cannot read catalog overlay"));
        qputenv("XDG_CONFIG_HOME", oldConfig);
        qputenv("XDG_DATA_HOME", oldData);
    }

    // Rack-scale NVLink and cloud systems resolve, and an NVL72 rack is one NVLink domain.
    void rackScaleAndCloudSystems() {
        auto c = Catalog::builtin().value();
        for (const char* n : {"gb200-nvl72", "gb300-nvl72", "hgx-h800", "hgx-h20", "aws-p5", "aws-p5en", "gcp-a3-mega", "gcp-a3-ultra", "gcp-a4",
                              "oci-bm-h100", "azure-nd-h100-v5", "mi300x-8-aac"})
            QVERIFY2(c.resolve(n, "").ok(), n);
        auto nvl = c.resolve("gb200-nvl72", "").value();
        QCOMPARE(nvl.system->gpusPerNode, 72);
        QVERIFY(nvl.checkGpuCount(72).empty());
        QVERIFY(nvl.checkGpuCount(144).empty());
        QVERIFY(!nvl.checkGpuCount(100).empty());
    }
};

QTEST_GUILESS_MAIN(TestCatalog)
#include "tst_catalog.moc"
