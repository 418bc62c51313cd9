#pragma once
// Calibration from nccl-tests / rccl-tests output. Their table has, per size, an out-of-place and
// an in-place group of time (us), algbw and busbw (GB/s) and #wrong:
//
//   #       size         count      type   redop    root     time   algbw   busbw #wrong     time   algbw   busbw #wrong
//   #        (B)    (elements)                               (us)  (GB/s)  (GB/s)            (us)  (GB/s)  (GB/s)
//              8             2     float     sum      -1    16.61    0.00    0.00      0    16.47    0.00    0.00      0
//
// The fit: the cost of a collective is latency + bytes / bandwidth per protocol (collective.h);
// protocols switch at some size, so the measured times are split into a small-message and a
// large-message regime and each is fitted by least squares on relative error (every point counts
// the same from 8 B to 16 GiB). From the large-message regime come the bandwidth efficiency of
// the limiting link and the latency of the bandwidth protocol; from the small one the latency and
// bandwidth factor of the low-latency protocol.

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
    int ranks = 0;           // from the "#  Rank  N ..." lines; 0 when the file does not list them
};

// Parses nccl-tests output text. `inPlace` takes the second group of columns. Errors name the
// line and what was expected.
spec::Result<MeasuredTable> parseNcclTests(const std::string& text, const std::string& fileName, bool inPlace = false);

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
    double fittedErrorPct = 0, catalogErrorPct = 0;  // (model - measured) / measured
    double measuredBusbw = 0, fittedBusbw = 0, catalogBusbw = 0;
    std::string catalogAlgorithm, catalogProtocol;
};

struct Calibration {
    CollectiveOp op = CollectiveOp::AllReduce;
    int ranks = 0;
    std::string link;                   // the limiting link type the efficiency applies to
    double linkSpecGBs = 0;             // its spec bandwidth as the collective sees it (per GPU / node)
    double catalogEfficiency = 0;       // collective_efficiency in the catalog
    double fittedEfficiency = 0;        // large-message busbw / spec
    std::vector<Regime> regimes;        // 1 or 2
    std::vector<CalibrationPoint> points;
    double fittedRmsPct = 0, catalogRmsPct = 0, catalogMaxAbsPct = 0;
};

spec::Result<Calibration> calibrate(const MeasuredTable& table, const ResolvedCluster& cluster, CollectiveOp op, int ranks);

// Least squares of t = a + b x with weights 1/t^2 (relative error); returns {a, b}.
std::pair<double, double> fitRelative(const std::vector<double>& x, const std::vector<double>& t);

}  // namespace moe::cluster
