// Expert-parallel dispatch/combine kernels against the published figures in
// tests/data/cluster/published_ep_points.csv: every point within 30%, the median within 20%.
#include <QtTest>

#include <algorithm>
#include <cmath>
#include <fstream>
#include <sstream>

#include "moe/cluster/ep_kernels.h"

using namespace moe::cluster;

namespace {

const Catalog& cat() {
    static const Catalog c = Catalog::builtin().value();
    return c;
}

// Splits one CSV line; the last field may be quoted and hold commas.
std::vector<std::string> fields(const std::string& line) {
    std::vector<std::string> out;
    std::string cur;
    bool quoted = false;
    for (char ch : line) {
        if (ch == '"') quoted = !quoted;
        else if (ch == ',' && !quoted) {
            out.push_back(cur);
            cur.clear();
        } else cur += ch;
    }
    out.push_back(cur);
    return out;
}

}  // namespace

class TestEpKernels : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void distinctGroups() {
        QCOMPARE(expectedDistinctGroups(256, 1, 8), 1.0);
        QVERIFY(std::abs(expectedDistinctGroups(8, 8, 8) - 8.0) < 1e-12);  // every expert: every group
        QVERIFY(std::abs(expectedDistinctGroups(256, 256, 8) - 8.0) < 1e-12);  // one expert per group
        const double two = expectedDistinctGroups(4, 2, 2);  // 2 of 4 experts in 2 groups of 2
        QVERIFY(std::abs(two - 2 * (1 - 1.0 / 6)) < 1e-12);
    }

    void meetsThePublishedFigures() {
        std::ifstream in(std::string(MOE_SOURCE_DIR) + "/tests/data/cluster/published_ep_points.csv");
        QVERIFY(in.good());
        std::vector<double> errs;
        bool header = true;
        for (std::string line; std::getline(in, line);) {
            if (line.empty() || line[0] == '#') continue;
            if (header) {
                header = false;
                continue;
            }
            const auto f = fields(line);
            QCOMPARE(static_cast<int>(f.size()), 11);
            QVERIFY2(!f[10].empty(), "every published point names its source");
            const EpKernelSpec* k = cat().epKernel(f[0]);
            QVERIFY2(k, f[0].c_str());
            const ResolvedCluster rc = cat().resolve(f[1], "").value();
            EpTraffic t;
            t.ep = std::stoi(f[2]);
            t.tokensPerRank = std::stoi(f[3]);
            t.hidden = std::stoi(f[4]);
            t.k = std::stoi(f[5]);
            t.experts = std::stoi(f[6]);
            t.maxNodesPerToken = std::stoi(f[7]);
            auto e = estimateEpKernel(rc, *k, t);
            QVERIFY2(e.ok(), e.message().c_str());
            const std::string metric = f[8];
            const double measured = std::stod(f[9]);
            const double model = metric == "dispatch_us" ? e->dispatchUs : metric == "combine_us" ? e->combineUs
                               : metric == "dispatch_gb_s" ? e->dispatchGBs : e->combineGBs;
            const double err = (model - measured) / measured * 100;
            qInfo("%s EP%d %s: published %.1f, model %.1f (%+.1f%%)", f[0].c_str(), t.ep, metric.c_str(), measured, model, err);
            QVERIFY2(std::abs(err) <= 30.0, line.c_str());
            errs.push_back(std::abs(err));
        }
        QVERIFY(errs.size() >= 20);
        std::sort(errs.begin(), errs.end());
        const double median = errs[errs.size() / 2];
        qInfo("median |error| %.1f%% over %zu points", median, errs.size());
        QVERIFY(median <= 20.0);
    }

    void kernelsDifferAsTheyShould() {
        const ResolvedCluster rc = cat().resolve("hgx-h800", "").value();
        EpTraffic t;
        t.ep = 64;
        auto ll = estimateEpKernel(rc, *cat().epKernel("deepep-ll"), t).value();
        // Leaving the node costs: EP64 is slower than EP8 for the same tokens.
        t.ep = 8;
        auto ll8 = estimateEpKernel(rc, *cat().epKernel("deepep-ll"), t).value();
        QVERIFY(ll.dispatchUs > ll8.dispatchUs);
        QVERIFY(ll.combineUs > ll.dispatchUs);  // BF16 combine moves twice the FP8 dispatch bytes
        // Node forwarding sends a token once per node: fewer network bytes than direct sends.
        t.ep = 64;
        t.tokensPerRank = 4096;
        auto direct = estimateEpKernel(rc, *cat().epKernel("deepep-ll"), t).value();
        auto fwd = estimateEpKernel(rc, *cat().epKernel("deepep-normal"), t).value();
        QVERIFY(fwd.dispatchUs < direct.dispatchUs);
        t.ep = 12;
        QVERIFY(!estimateEpKernel(rc, *cat().epKernel("deepep-ll"), t).ok());  // not whole nodes
    }

    // A NIC kind adds its own cost per call once the group leaves the node (EFA's over CX7's), to
    // the kernel libraries, not to NCCL's all-to-all (priced by the collective model).
    void nicKindAddsItsCostPerCall() {
        const ResolvedCluster efa = cat().resolve("aws-p5", "").value(), ib = cat().resolve("hgx-h100", "").value();
        const EpKernelSpec& pplx = *cat().epKernel("pplx");
        QCOMPARE(kernelCallUs(efa, pplx, true, true) - kernelCallUs(ib, pplx, true, true), efa.nic->epDispatchExtraUs);
        QCOMPARE(kernelCallUs(efa, pplx, false, true) - kernelCallUs(ib, pplx, false, true), efa.nic->epCombineExtraUs);
        QVERIFY(efa.nic->epDispatchExtraUs > 3 * pplx.dispatchRdmaLatencyUs);  // several times CX7's
        QCOMPARE(kernelCallUs(efa, pplx, true, false), kernelCallUs(ib, pplx, true, false));  // inside a node
        const EpKernelSpec& nccl = *cat().epKernel("nccl-alltoall");
        QCOMPARE(kernelCallUs(efa, nccl, true, true), kernelCallUs(ib, nccl, true, true));
        EpTraffic t;
        t.ep = 16;
        QVERIFY(estimateEpKernel(efa, pplx, t)->dispatchUs > estimateEpKernel(ib, pplx, t)->dispatchUs + 0.9 * efa.nic->epDispatchExtraUs);
    }

    // Compute beside a kernel runs on the SMs/CUs it leaves: the part that overlaps the kernel
    // takes total / (total - held) as long, the rest runs at full speed.
    void computeUnitsSlowOverlappedCompute() {
        QCOMPARE(overlappedComputeUs(10, 100, 2.0), 20.0);         // all of it inside the window
        QCOMPARE(overlappedComputeUs(100, 30, 2.0), 30.0 + 85.0);  // 15 us of work in the window, 85 after
        QCOMPARE(overlappedComputeUs(100, 30, 1.0), 100.0);
        QCOMPARE(overlappedComputeUs(100, 0, 2.0), 100.0);         // the kernel is done before it starts
        const ResolvedCluster rc = cat().resolve("hgx-h800", "").value();
        QCOMPARE(rc.gpu->computeUnits, 132);
        EpTraffic t;
        t.ep = 16;
        const auto normal = estimateEpKernel(rc, *cat().epKernel("deepep-normal"), t).value();
        QCOMPARE(normal.computeUnitsUsed, 20);
        QCOMPARE(normal.computeUnitsTotal, 132);
        QCOMPARE(normal.overlapSlowdown, 132.0 / 112.0);
        // Hook-based (no SM held) and split send/receive kernels change nothing.
        for (const char* k : {"deepep-ll", "pplx"}) QCOMPARE(estimateEpKernel(rc, *cat().epKernel(k), t)->overlapSlowdown, 1.0);
        const ResolvedCluster amd = cat().resolve("mi300x-8", "").value();
        QCOMPARE(overlapSlowdown(*amd.gpu, cat().epKernel("mori-ep")), 304.0 / 224.0);
        // A kernel that would take every SM is refused, naming the option.
        EpKernelSpec all = *cat().epKernel("deepep-normal");
        all.computeUnits = 132;
        auto e = estimateEpKernel(rc, all, t);
        QVERIFY(!e.ok());
        QVERIFY2(e.errors()[0].path == "--kernel" && e.errors()[0].message.find("only 132") != std::string::npos, e.message().c_str());
        // A GPU without a count: held SMs cannot be charged, so nothing changes.
        GpuSpec unknown = *rc.gpu;
        unknown.computeUnits = 0;
        QCOMPARE(overlapSlowdown(unknown, cat().epKernel("deepep-normal")), 1.0);
    }

    // A library runs on its vendor's GPUs only: DeepEP and pplx on NVIDIA, MORI-EP on AMD, the
    // NCCL/RCCL all-to-all everywhere (Gloo's on CPU ranks). Others are refused by name.
    void kernelsRunOnTheirVendorsGpus() {
        const ResolvedCluster nv = cat().resolve("hgx-h800", "").value();
        const ResolvedCluster amd = cat().resolve("mi300x-8", "").value();
        const ResolvedCluster cpu = cat().resolve("localhost-gloo", "").value();
        EpTraffic t;
        t.ep = 8;
        for (const char* k : {"deepep-ll", "deepep-normal", "pplx"}) {
            QVERIFY(estimateEpKernel(nv, *cat().epKernel(k), t).ok());
            auto e = estimateEpKernel(amd, *cat().epKernel(k), t);
            QVERIFY(!e.ok());
            QVERIFY2(e.errors()[0].message.find("runs on nvidia GPUs") != std::string::npos, e.message().c_str());
            QVERIFY(!findEpKernel(cat(), *cpu.gpu, k, "deployment.ep_kernel").ok());
        }
        QVERIFY(estimateEpKernel(amd, *cat().epKernel("mori-ep"), t).ok());
        QVERIFY(!findEpKernel(cat(), *nv.gpu, "mori-ep", "deployment.ep_kernel").ok());
        for (const ResolvedCluster* rc : {&nv, &amd, &cpu}) {
            auto e = estimateEpKernel(*rc, *cat().epKernel("nccl-alltoall"), t);
            QVERIFY2(e.ok(), e.message().c_str());
            QCOMPARE(e->bottleneck, rc->scaleUp->name);  // one node: its scale-up link, by catalog name
        }
    }
};

QTEST_GUILESS_MAIN(TestEpKernels)
#include "tst_ep_kernels.moc"
