#pragma once
// The "Layouts" tab of the Cluster planner: the project's own training layout priced (memory per
// GPU with its fits / does-not-fit verdict, step time of the whole model, the simulator's notes),
// and the layout planner's table for N GPUs, the same rows `moe plan` prints. A chosen row is
// applied to the deployment as one undoable edit. Every figure has a tooltip saying what it is.
// Planning runs on a worker thread; a result that a newer request overtook is dropped. All numbers
// come from core/cluster (planLayouts, costProjectLayout): the tab adds no model of its own.

#include <QPointer>
#include <QString>
#include <QTimer>
#include <QWidget>

#include <memory>

#ifdef MOE_STUDIO_CLUSTER_BUILT
class QLabel;
class QPushButton;
class QSpinBox;
class QTableWidget;

namespace moe::cluster {
class Catalog;
struct PlanResult;
struct LayoutCost;
}  // namespace moe::cluster

namespace moe::studio {

class ProjectDocument;

class LayoutPlanPanel : public QWidget {
    Q_OBJECT
public:
    LayoutPlanPanel(ProjectDocument* doc, std::shared_ptr<const moe::cluster::Catalog> catalog, QWidget* parent = nullptr);

    // ---- what is shown (tests read these) ----------------------------------------------------
    QString currentText() const;   // the project's layout: memory, verdict, step (or its errors)
    QString errorText() const;     // errors of the project's layout or of planning; empty when fine
    bool planning() const { return m_planning; }
    std::shared_ptr<const moe::cluster::PlanResult> plan() const { return m_plan; }
    QTableWidget* table() const { return m_table; }

public Q_SLOTS:
    void refreshCurrent();          // prices the project's own layout (fast: no enumeration)
    void startPlan();               // plans for the GPU count in the spin box, on a worker thread
    bool applyRow(int row);         // writes the row's layout into the deployment (undoable)

Q_SIGNALS:
    void planned(bool ok);

private:
    void showPlan();
    void showDetails(int row);

    ProjectDocument* m_doc;
    std::shared_ptr<const moe::cluster::Catalog> m_catalog;
    QLabel* m_current = nullptr;
    QLabel* m_error = nullptr;
    QSpinBox* m_gpus = nullptr;
    QPushButton* m_planButton = nullptr;
    QPushButton* m_apply = nullptr;
    QLabel* m_status = nullptr;
    QTableWidget* m_table = nullptr;
    QLabel* m_details = nullptr;
    std::shared_ptr<const moe::cluster::PlanResult> m_plan;
    quint64 m_generation = 0;       // plan requests
    quint64 m_costGeneration = 0;   // pricing of the deployment's layout
    bool m_planning = false;
    QTimer m_debounce;              // edits come in bursts (typing): price once they settle
};

}  // namespace moe::studio
#endif  // MOE_STUDIO_CLUSTER_BUILT
