#pragma once
// Calibration from nccl-tests / rccl-tests output. Their table has, per size, an out-of-place and
// an in-place group of time (us), algbw and busbw (GB/s) and #wrong:
//
//   #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
//   #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
//              8             2     float     sum      -1    16.61    0.00    0.00      0    16.47    0.00    0.00      0
//
// Logs are read as users paste them: ranks from the "#  Rank N" lines (the largest N + 1, so a
// trimmed device list still counts), else nGpus x the process count of an mpirun -np line; header
// and comment lines that lost their '#'; NCCL INFO and other stray lines; several tables in one
// file (each "size count type" header or nThread line after data starts a new one); tables that
// print only the in-place group; CRLF line ends; the collective named by an nccl-tests binary
// (all_reduce_perf, alltoall_perf, ...) or a "moe collective OP --measure" header.
//
// Two fits:
//  - a descriptive one: the measured times split into a small- and a large-message regime, each
//    a line latency + bytes / bandwidth by least squares on relative error;
//  - the model's own: the catalog parameters of the links the collective crosses (per level:
//    the scale-up link inside a node, the NIC between nodes; per protocol: base latency, hop
//    latency, bandwidth factor; the link's collective efficiency, or its point-to-point efficiency
//    for all-to-alls, and NVLS figures) are adjusted
//    so that estimateCollective matches the table (least squares on relative error, coordinate
//    descent in log space within the catalog's ranges). The fitted links are what
//    calibrationOverlay writes as a catalog overlay.

#include <string>
#include <vector>

#include "moe/cluster/catalog.h"
#include "moe/cluster/collective.h"
#include "moe/spec/diagnostic.h"

namespace moe::cluster {

struct MeasuredPoint {
    double bytes = 0;
    long long count = 0;
    std::string type;
    double timeUs = 0;       // out-of-place (or in-place when asked)
    double algbwGBs = 0;
    double busbwGBs = 0;
    int line = 0;            // in the file
};

struct MeasuredTable {
    std::vector<MeasuredPoint> points;
    int ranks = 0;           // from the "#  Rank  N ..." lines, or nGpus x processes; 0 when unknown
    int gpusPerProcess = 0;  // "nGpus G" of the header; 0 when not printed
    int processes = 0;       // from an "mpirun -np N" line in the file; 0 when not there
    int firstLine = 0;       // line of the table's first row
    bool inPlaceColumns = false;  // the times are the in-place group (asked, or the only one printed)
    // The collective the file says it measured, as it names it ("all_reduce", "alltoall",
    // "sendrecv", ...): from an nccl-tests binary name (all_reduce_perf, in "Collective test
    // starting:" or a command line) or a "moe collective OP --measure" header; empty when it says
    // nothing. opLine: where it said so.
    std::string op;
    int opLine = 0;
};

// Parses nccl-tests output text: the first table. `inPlace` takes the in-place group of columns.
// Errors name the line and what was expected.
spec::Result<MeasuredTable> parseNcclTests(const std::string& text, const std::string& fileName, bool inPlace = false);
// Every table of the file, in order.
spec::Result<std::vector<MeasuredTable>> parseNcclTestsTables(const std::string& text, const std::string& fileName, bool inPlace = false);

struct Regime {
    std::string name;        // "small messages" / "large messages"
    double fromBytes = 0, toBytes = 0;
    double latencyUs = 0;    // fitted intercept
    double busbwGBs = 0;     // fitted asymptotic bus bandwidth (nccl-tests convention)
    int points = 0;
};

struct CalibrationPoint {
    double bytes = 0;
    double measuredUs = 0;
    double fittedUs = 0;     // the two-regime fit
    double catalogUs = 0;    // the catalog's model before calibration
    double calibratedUs = 0; // the model with the fitted links
    double calibratedErrorPct = 0;
    std::string calibratedAlgorithm, calibratedProtocol;
    double fittedErrorPct = 0, catalogErrorPct = 0;  // (model - measured) / measured
    double measuredBusbw = 0, fittedBusbw = 0, catalogBusbw = 0;
    std::string catalogAlgorithm, catalogProtocol;
};

struct Calibration {
    CollectiveOp op = CollectiveOp::AllReduce;
    int ranks = 0;
    std::string link;                   // the limiting link type the efficiency applies to
    double linkSpecGBs = 0;             // its spec bandwidth as the collective sees it (per GPU / node)
    std::string efficiencyField;        // the efficiency that applies: p2p_efficiency for all-to-alls, else collective_efficiency
    double catalogEfficiency = 0;       // that efficiency in the catalog
    double fittedEfficiency = 0;        // large-message busbw / spec
    std::vector<Regime> regimes;        // 1 or 2
    std::vector<CalibrationPoint> points;
    double fittedRmsPct = 0, catalogRmsPct = 0, catalogMaxAbsPct = 0;
    // The model's own fit: the links with fitted parameters (scale-up and/or NIC) and the
    // model's error with them.
    std::vector<LinkSpec> fittedLinks;
    std::vector<std::string> fittedFields;   // "nvlink4.protocols.LL.base_latency_us", ...
    double calibratedRmsPct = 0, calibratedMaxAbsPct = 0;
    CollectiveOptions options;               // the conditions of the measurement
};

// Which links calibrate adjusts: both levels the collective crosses, or only one of them (e.g.
// the NIC of a cloud system whose scale-up fabric is already right).
enum class FitLevel { All, Intra, Inter };

spec::Result<Calibration> calibrate(const MeasuredTable& table, const ResolvedCluster& cluster, CollectiveOp op, int ranks);
// `opt` gives the measurement's conditions: algorithm (NCCL_ALGO), nvls (NCCL_NVLS_ENABLE),
// gpusPerProcess (nccl-tests -g).
spec::Result<Calibration> calibrate(const MeasuredTable& table, const ResolvedCluster& cluster, CollectiveOp op, int ranks,
                                    const CollectiveOptions& opt, FitLevel level = FitLevel::All);

// A catalog overlay (see Catalog::loadDefault) holding the fitted links; every fitted number's
// source names `measurement` (the log file) and the fit, the others keep their catalog sources.
std::string calibrationOverlay(const Calibration& c, const std::string& measurement, const std::string& clusterName);

// Least squares of t = a + b x with weights 1/t^2 (relative error); returns {a, b}.
std::pair<double, double> fitRelative(const std::vector<double>& x, const std::vector<double>& t);

}  // namespace moe::cluster
