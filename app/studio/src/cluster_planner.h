#pragma once
// The Cluster planner dock: the project's deployment section as controls (cluster, GPUs, parallel
// degrees, tokens, capacity, dtype, dedup, routing), the expert placement as draggable chips, and
// what core/cluster's simulator predicts for one step. Every change is an undoable document edit;
// the simulation runs on a worker thread, debounced, and a result that a newer request overtook is
// dropped. The planner adds no model of its own: resolveDeployment, deploymentLoads and
// simulateStep make every figure shown. The "Layouts" tab (cluster_planner_layouts.h) prices the
// whole model: memory per GPU, step time and the layout planner. Builds without core/cluster have
// no planner.

#include <QString>
#include <QStringList>
#include <QThreadPool>
#include <QTimer>
#include <QWidget>

#include <atomic>
#include <functional>
#include <memory>
#include <vector>

class QCheckBox;
class QComboBox;
class QDoubleSpinBox;
class QGridLayout;
class QLabel;
class QPushButton;
class QSpinBox;
class QTabWidget;
class QTableWidget;

#ifdef MOE_STUDIO_CLUSTER_BUILT
namespace moe::cluster {
class Catalog;
struct Deployment;
struct StepResult;
}  // namespace moe::cluster

namespace moe::spec {
struct Project;
struct DeploymentSpec;
}  // namespace moe::spec

namespace moe::studio {

class LayoutPlanPanel;
class PlacementView;
class ProjectDocument;
struct PlannerOutcome;

class ClusterPlanner : public QWidget {
    Q_OBJECT
public:
    explicit ClusterPlanner(ProjectDocument* doc, QWidget* parent = nullptr);
    ~ClusterPlanner() override;

    // Where the project's runs are (the newest one can feed the routing).
    void setRunDir(const QString& dir);
    QString latestRun() const;  // newest run store in the run folder, or empty

    // ---- what is shown (tests and the scripted launch read these) ---------------------------
    QStringList clusterNames() const;
    QString errorText() const;          // the resolver's or simulator's message; empty when fine
    bool derived() const;               // the project has no deployment: showing derived defaults
    bool simulating() const { return m_running; }
    std::shared_ptr<const moe::cluster::StepResult> lastResult() const { return m_result; }
    // The loads the last result was simulated with ([layer][expert]).
    const std::vector<std::vector<double>>& lastLoads() const { return m_loads; }
    QString figure(const QString& name) const;  // text of a result label: "step", "forward", ...
    PlacementView* placementView() const { return m_placement; }
    // The whole model's memory, step time and layout planner (the "Layouts" tab).
    LayoutPlanPanel* layoutPanel() const { return m_layouts; }
    // Shows a results tab: 0 step figures, 1 placement, 2 per layer, 3 layouts.
    void showTab(int index);
    bool training() const;
    int microBatches() const;

    // Milliseconds as shown in the planner (same format for every figure).
    static QString formatMs(double us);

public Q_SLOTS:
    // Moves one expert to another EP rank: an explicit placement, one undo step. Dragging a
    // chip calls this too.
    void moveExpert(int expert, int toEpRank);
    void roundRobin();
    void setSimulationMode(bool training, int microBatches);
    void refresh();

protected:
    void changeEvent(QEvent* e) override;

Q_SIGNALS:
    // A simulation finished and is shown (ok false: its error is in errorText()).
    void simulated(bool ok);

private:
    void buildUi();
    void applyTheme();
    // Applies `change` to the project's deployment, creating the section from the derived
    // defaults when the project has none.
    void editDeployment(const QString& text, const std::function<void(moe::spec::DeploymentSpec&)>& change,
                        const QString& mergeKey = {});
    void fillRouting(const moe::spec::DeploymentSpec& s);
    void showError(const QString& text);
    void clearResults(const QString& why);
    void schedule();
    void startSimulation();
    void onOutcome(const std::shared_ptr<PlannerOutcome>& o);
    void showResult();
    void updatePlacement();
    QString projectDir() const;
    QString routingPathForStore(const QString& absolutePath) const;

    ProjectDocument* m_doc;
    std::shared_ptr<const moe::cluster::Catalog> m_catalog;
    QString m_catalogError;
    QString m_runDir;

    // controls
    QComboBox* m_cluster = nullptr;
    QSpinBox *m_gpus = nullptr, *m_ep = nullptr, *m_dp = nullptr, *m_tp = nullptr, *m_tokens = nullptr;
    QDoubleSpinBox* m_capacity = nullptr;
    QComboBox* m_dtype = nullptr;
    QCheckBox* m_dedup = nullptr;
    QComboBox* m_routing = nullptr;
    QDoubleSpinBox* m_zipf = nullptr;
    QComboBox *m_mode = nullptr, *m_micro = nullptr;
    QLabel* m_derivedNote = nullptr;
    QLabel* m_error = nullptr;
    QLabel* m_status = nullptr;
    QPushButton* m_roundRobin = nullptr;
    QLabel* m_placementNote = nullptr;
    PlacementView* m_placement = nullptr;
    // results
    QGridLayout* m_figureGrid = nullptr;
    std::vector<std::pair<QString, QLabel*>> m_figures;
    QTableWidget* m_links = nullptr;
    QTableWidget* m_layers = nullptr;
    QLabel* m_resultNote = nullptr;
    QTabWidget* m_tabs = nullptr;
    LayoutPlanPanel* m_layouts = nullptr;

    // simulation state
    std::unique_ptr<moe::cluster::Deployment> m_deployment;  // resolved, valid; null when invalid
    int m_gpusPerNode = 8;
    QString m_requestKey;       // what the newest request simulates
    QString m_resultKey;        // what the shown result simulated
    quint64 m_generation = 0;
    bool m_running = false;
    QTimer m_debounce;
    QThreadPool m_pool;
    // Set to stop the simulation that is running (a newer request, or the planner closing).
    std::shared_ptr<std::atomic<bool>> m_cancelRunning;
    std::shared_ptr<const moe::cluster::StepResult> m_result;
    std::vector<std::vector<double>> m_loads;
    QString m_routingNote;
};

}  // namespace moe::studio
#endif  // MOE_STUDIO_CLUSTER_BUILT
