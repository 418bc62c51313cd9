#include "messages_panel.h"

#include <QStyle>

namespace moe::studio {

namespace {
constexpr int kRefKind = Qt::UserRole;
constexpr int kRefBlock = Qt::UserRole + 1;
}  // namespace

MessagesPanel::MessagesPanel(ProjectDocument* doc, QWidget* parent) : QListWidget(parent), m_doc(doc) {
    setWordWrap(true);
    setAlternatingRowColors(true);
    setUniformItemSizes(false);
    connect(doc, &ProjectDocument::changed, this, &MessagesPanel::rebuild);
    connect(doc, &ProjectDocument::reset, this, [this] {
        m_alerts.clear();
        rebuild();
    });
    auto go = [this](QListWidgetItem* it) {
        if (!it || it->data(kRefKind).isNull()) return;
        ItemRef r{static_cast<ItemRef::Kind>(it->data(kRefKind).toInt()), it->data(kRefBlock).toULongLong()};
        Q_EMIT itemRequested(r);
    };
    connect(this, &QListWidget::itemClicked, this, go);
    connect(this, &QListWidget::itemActivated, this, go);
    rebuild();
}

int MessagesPanel::problemCount() const { return static_cast<int>(m_doc->problems().size()); }

void MessagesPanel::setAlerts(const std::vector<moe::telemetry::Alert>& alerts) {
    m_alerts = alerts;
    rebuild();
}

void MessagesPanel::addNote(const QString& text) {
    m_notes.prepend(text);
    while (m_notes.size() > 5) m_notes.removeLast();
    rebuild();
}

void MessagesPanel::rebuild() {
    clear();
    const QStyle* st = style();
    for (const auto& p : m_doc->problems()) {
        const QString where = QString::fromStdString(p.diagnostic.path);
        auto* it = new QListWidgetItem(st->standardIcon(QStyle::SP_MessageBoxCritical),
                                       tr("%1: %2").arg(where, QString::fromStdString(p.diagnostic.message)), this);
        it->setData(kRefKind, static_cast<int>(p.item.kind));
        it->setData(kRefBlock, QVariant::fromValue<qulonglong>(p.item.block));
        it->setToolTip(tr("Click to select the item this concerns"));
    }
    for (const auto& a : m_alerts) {
        const bool critical = a.severity == moe::telemetry::Severity::Critical;
        const auto icon = critical ? QStyle::SP_MessageBoxWarning : QStyle::SP_MessageBoxInformation;
        QString text = tr("step %1 · ").arg(a.step);
        if (a.block >= 0) text += tr("block %1 · ").arg(a.block);
        text += QString::fromStdString(a.title);
        if (!a.explanation.empty()) text += QStringLiteral("\n") + QString::fromStdString(a.explanation);
        if (!a.fix.empty()) text += tr("\nTry: %1").arg(QString::fromStdString(a.fix));
        auto* it = new QListWidgetItem(st->standardIcon(icon), text, this);
        if (a.block >= 0) {
            if (BlockId id = m_doc->idAt(a.block)) {
                it->setData(kRefKind, static_cast<int>(ItemRef::Block));
                it->setData(kRefBlock, QVariant::fromValue<qulonglong>(id));
            }
        }
    }
    for (const QString& n : m_notes) new QListWidgetItem(st->standardIcon(QStyle::SP_MessageBoxInformation), n, this);
    if (count() == 0) {
        auto* it = new QListWidgetItem(st->standardIcon(QStyle::SP_DialogApplyButton), tr("No problems: the model is valid."), this);
        it->setFlags(Qt::ItemIsEnabled);
    }
    Q_EMIT countsChanged(problemCount(), alertCount());
}

}  // namespace moe::studio
