#pragma once
// Messages: validation problems from core/spec and collapse alerts from training. Activating
// one selects the item it concerns.

#include <QListWidget>

#include <vector>

#include "document.h"
#include "moe/telemetry/snapshot.h"

namespace moe::studio {

class MessagesPanel : public QListWidget {
    Q_OBJECT
public:
    explicit MessagesPanel(ProjectDocument* doc, QWidget* parent = nullptr);

    void setAlerts(const std::vector<moe::telemetry::Alert>& alerts);
    void addNote(const QString& text);   // a passing notice (refused drop, failed open, ...)
    int problemCount() const;
    int alertCount() const { return static_cast<int>(m_alerts.size()); }

Q_SIGNALS:
    void itemRequested(const moe::studio::ItemRef& item);
    void countsChanged(int problems, int alerts);

private:
    void rebuild();

    ProjectDocument* m_doc;
    std::vector<moe::telemetry::Alert> m_alerts;
    QStringList m_notes;
};

}  // namespace moe::studio
