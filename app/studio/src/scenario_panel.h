#pragma once
// Classroom guide: walks through the steps of the open project's scenario. Each step may edit
// the project (through moe::spec::applyEdits) and train some steps; the main window does both.

#include <QWidget>

#include "document.h"

class QComboBox;
class QLabel;
class QListWidget;
class QPushButton;

namespace moe::studio {

class ScenarioPanel : public QWidget {
    Q_OBJECT
public:
    ScenarioPanel(ProjectDocument* doc, QWidget* parent = nullptr);

    void setExamples(const QStringList& files);  // projects that carry a scenario
    int currentStep() const { return m_current; }
    void setCurrentStep(int i);
    void setBusy(bool busy, const QString& note = {});
    // What a step does, in plain words ("set the load-balancing loss to 0.05 in every block").
    static QStringList describe(const moe::spec::ScenarioStep& step);
    static QString describeEdit(const std::string& path, const nlohmann::ordered_json& value);

Q_SIGNALS:
    void runStepRequested(int index);
    void openRequested(const QString& file);
    void resetRequested();  // back to the scenario as shipped, first step
    void stepShown(int index);  // a step became the current one (its dashboard goes up)

private:
    void rebuild();
    void showStep();

    ProjectDocument* m_doc;
    QComboBox* m_examples;
    QLabel* m_title;
    QListWidget* m_steps;
    QLabel* m_text;
    QLabel* m_note;
    QPushButton *m_back, *m_run, *m_next, *m_reset;
    int m_current = 0;
    bool m_busy = false;
};

}  // namespace moe::studio
