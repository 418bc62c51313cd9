// The planner's worker job and how its result is shown: key figures, hot links, per-layer table.
#ifdef MOE_STUDIO_CLUSTER_BUILT
#include <QFileInfo>
#include <QGridLayout>
#include <QLabel>
#include <QLocale>
#include <QTableWidget>

#include <exception>

#include "cluster_planner.h"
#include "cluster_planner_internal.h"

namespace moe::studio {
namespace cl = moe::cluster;
namespace spec = moe::spec;

namespace {

QString diagnosticsText(const spec::Diagnostics& ds, const std::string& prefix = {}) {
    QStringList lines;
    for (const auto& d : ds)
        lines << QString::fromStdString((d.path.empty() ? std::string() : d.path + ": ") + prefix + d.message);
    return lines.join(QLatin1Char('\n'));
}

QString percent(double fraction) { return QString::number(100.0 * fraction, 'f', 1) + QStringLiteral(" %"); }

QTableWidgetItem* cell(const QString& text, bool right = true) {
    auto* it = new QTableWidgetItem(text);
    it->setTextAlignment((right ? Qt::AlignRight : Qt::AlignLeft) | Qt::AlignVCenter);
    return it;
}

}  // namespace

QString plannerRequestKey(const cl::Deployment& d, bool training, int microBatches) {
    QStringList k;
    k << QString::fromStdString(d.cluster) << QString::number(d.gpus) << QString::number(d.dModel) << QString::number(d.ffnHidden)
      << QString::number(d.layers) << QString::number(d.experts) << QString::number(d.k) << QString::number(d.sharedExperts)
      << QString::number(d.tokensPerGpu) << QString::fromStdString(d.dtype) << QString::fromStdString(d.dispatchDtype)
      << QString::number(d.ep) << QString::number(d.dp) << QString::number(d.tp) << QString::number(d.capacityFactor, 'g', 17)
      << QString::number(d.dedupTokens) << QString::fromStdString(d.routingText) << QString::number(training) << QString::number(microBatches);
    if (d.routing.kind == cl::RoutingKind::Recorded) {
        // A run store that grew since (a new snapshot) routes differently.
        const QFileInfo fi(QString::fromStdString(d.routing.path));
        k << fi.absoluteFilePath() << QString::number(fi.lastModified().toMSecsSinceEpoch()) << QString::number(fi.size());
    }
    QStringList pl;
    for (const auto& r : d.placement) {
        QStringList ex;
        for (int e : r) ex << QString::number(e);
        pl << ex.join(QLatin1Char(','));
    }
    k << pl.join(QLatin1Char(';'));
    return k.join(QLatin1Char('|'));
}

std::shared_ptr<PlannerOutcome> runPlannerJob(const PlannerJob& job) {
    auto out = std::make_shared<PlannerOutcome>();
    out->generation = job.generation;
    out->key = job.key;
    const cl::Deployment& d = job.deployment;
    try {
        spec::Result<std::vector<std::vector<double>>> loads{spec::Diagnostics{}};
        if (d.routing.kind == cl::RoutingKind::Recorded) {
            auto rec = cl::loadRecordedRouting(d.routing.path, d.routingWhere);
            if (!rec) {
                out->error = diagnosticsText(rec.errors());
                return out;
            }
            loads = cl::deploymentLoads(d, &rec->blocks);
            if (!loads) {
                out->error = diagnosticsText(loads.errors(), QFileInfo(QString::fromStdString(d.routing.path)).fileName().toStdString() + " (" +
                                                                 rec->description + "): ");
                return out;
            }
            out->routingNote = QObject::tr("recorded, %1 of %2")
                                   .arg(QString::fromStdString(rec->description), QFileInfo(QString::fromStdString(d.routing.path)).fileName());
        } else {
            loads = cl::deploymentLoads(d, nullptr);
            if (!loads) {
                out->error = diagnosticsText(loads.errors());
                return out;
            }
            out->routingNote = QString::fromStdString(d.routingText);
        }
        auto r = cl::simulateStep(d, *job.catalog, loads.value(), job.options);
        if (!r) {
            out->error = diagnosticsText(r.errors());
            return out;
        }
        out->result = std::make_shared<const cl::StepResult>(std::move(r.value()));
        out->loads = std::move(loads.value());
    } catch (const std::exception& e) {
        // The simulator reports problems as values; anything thrown (out of memory) still must
        // not take the studio down.
        out->error = QObject::tr("The simulation failed: %1").arg(QString::fromUtf8(e.what()));
    }
    return out;
}

QString ClusterPlanner::formatMs(double us) {
    if (us < 1000) return QString::number(us, 'f', 1) + QStringLiteral(" µs");
    return QString::number(us / 1000.0, 'f', us >= 100000 ? 1 : 2) + QStringLiteral(" ms");
}

void ClusterPlanner::clearResults(const QString& why) {
    m_running = false;
    m_result.reset();
    m_loads.clear();
    m_resultKey.clear();
    for (auto& [key, label] : m_figures) label->setText(QStringLiteral("—"));
    m_links->setRowCount(0);
    m_layers->setRowCount(0);
    m_status->setText(why);
    m_status->setToolTip({});
    m_resultNote->clear();
}

void ClusterPlanner::showResult() {
    const cl::StepResult& r = *m_result;
    const cl::Deployment& d = r.deployment;
    auto set = [this](const char* key, const QString& text) {
        for (auto& [k, label] : m_figures)
            if (k == QLatin1String(key)) label->setText(text);
    };
    set("step", formatMs(r.stepUs));
    set("forward", formatMs(r.forwardUs));
    set("backward", r.training ? formatMs(r.backwardUs) : tr("— (forward only)"));
    set("gradSync", r.training ? formatMs(r.gradSyncUs) : tr("— (forward only)"));
    const double step = r.stepUs > 0 ? r.stepUs : 1;
    set("compute", tr("%1 (%2 of the step)").arg(formatMs(r.computeUs), percent(r.computeUs / step)));
    set("exposed", tr("%1 (%2 of the step)").arg(formatMs(r.exposedCommUs), percent(r.exposedCommUs / step)));
    if (r.stragglerRank >= 0 && r.stragglerRank < static_cast<int>(r.ranks.size())) {
        const auto& st = r.ranks[static_cast<size_t>(r.stragglerRank)];
        QStringList ex;
        for (size_t i = 0; i < st.experts.size() && i < 6; ++i) ex << QString::number(st.experts[i]);
        if (st.experts.size() > 6) ex << QStringLiteral("…");
        const int passes = static_cast<int>(r.layers.size()) * (r.training ? 2 : 1);
        set("straggler", tr("GPU %1 (node %2, experts %3): last to finish its experts in %4 of %5 layer passes")
                             .arg(r.stragglerRank)
                             .arg(st.node)
                             .arg(ex.join(QStringLiteral(", ")))
                             .arg(r.stragglerLayers)
                             .arg(passes));
    } else set("straggler", tr("none: every GPU finishes its experts within 0.5% of the others in every layer"));
    set("memory", tr("%1 GiB per GPU of %2 GiB HBM").arg(r.expertWeightGiBPerGpu, 0, 'f', 1).arg(r.hbmGiB, 0, 'f', 0));

    m_status->setText(tr("%1: %2 GPUs (%3 node(s) of %4), ep %5 × dp %6 × tp %7 · %8 MoE layers, %9 experts, k %10 · routing %11")
                          .arg(QString::fromStdString(d.cluster))
                          .arg(d.gpus)
                          .arg(r.topology.nodes)
                          .arg(r.topology.gpusPerNode)
                          .arg(d.ep)
                          .arg(d.dp)
                          .arg(d.tp)
                          .arg(d.layers)
                          .arg(d.experts)
                          .arg(d.k)
                          .arg(m_routingNote));
    QStringList notes;
    for (const auto& n : r.notes) notes << QString::fromStdString(n);
    m_status->setToolTip(notes.join(QLatin1Char('\n')));

    // Ties grouped: "8 x NIC in (e.g. ...)" rather than eight arbitrary rows at one load.
    const auto groups = cl::groupHotLinks(r, 8);
    const int nLinks = static_cast<int>(groups.size());
    m_links->setRowCount(nLinks);
    const QLocale loc;
    for (int i = 0; i < nLinks; ++i) {
        const auto& l = groups[static_cast<size_t>(i)];
        m_links->setItem(i, 0, cell(QString::fromStdString(l.name), false));
        m_links->setItem(i, 1, cell(percent(l.utilisation)));
        m_links->setItem(i, 2, cell(formatMs(l.busyUs)));
        m_links->setItem(i, 3, cell(loc.formattedDataSize(static_cast<qint64>(l.bytes), 1, QLocale::DataSizeSIFormat)));
    }
    m_links->resizeColumnsToContents();

    m_layers->setRowCount(static_cast<int>(r.layers.size()));
    for (int i = 0; i < static_cast<int>(r.layers.size()); ++i) {
        const auto& l = r.layers[static_cast<size_t>(i)];
        m_layers->setItem(i, 0, cell(QString::number(l.layer)));
        m_layers->setItem(i, 1, cell(formatMs(l.dispatchUs)));
        m_layers->setItem(i, 2, cell(formatMs(l.expertUs)));
        m_layers->setItem(i, 3, cell(formatMs(l.combineUs)));
        m_layers->setItem(i, 4, cell(QString::number(l.imbalance, 'f', 2)));
        m_layers->setItem(i, 5, cell(l.stragglerRank >= 0 ? tr("GPU %1").arg(l.stragglerRank) : tr("none")));
    }
    m_layers->resizeColumnsToContents();
    m_resultNote->setText(d.denseLayers > 0 ? tr("Layer numbers count MoE layers; the %1 dense layers are not priced.").arg(d.denseLayers)
                                            : QString());
}

}  // namespace moe::studio
#endif  // MOE_STUDIO_CLUSTER_BUILT
