#include "scenario_panel.h"

#include <QComboBox>
#include <QFileInfo>
#include <QHBoxLayout>
#include <QLabel>
#include <QListWidget>
#include <QPushButton>
#include <QScrollArea>
#include <QVBoxLayout>

#include <regex>

#include "moe/spec/project_io.h"

namespace moe::studio {

ScenarioPanel::ScenarioPanel(ProjectDocument* doc, QWidget* parent) : QWidget(parent), m_doc(doc) {
    auto* v = new QVBoxLayout(this);
    v->setContentsMargins(8, 6, 8, 6);
    m_examples = new QComboBox(this);
    // Scenario titles are long: the list may be narrower than them (the popup shows them whole).
    m_examples->setSizeAdjustPolicy(QComboBox::AdjustToMinimumContentsLengthWithIcon);
    m_examples->setMinimumContentsLength(12);
    v->addWidget(m_examples);
    m_title = new QLabel(this);
    QFont tf = m_title->font();
    tf.setBold(true);
    tf.setPointSizeF(tf.pointSizeF() * 1.2);
    m_title->setFont(tf);
    m_title->setWordWrap(true);
    v->addWidget(m_title);
    m_steps = new QListWidget(this);
    m_steps->setMaximumHeight(150);
    m_steps->setMinimumHeight(60);
    v->addWidget(m_steps);
    m_text = new QLabel(this);
    m_text->setWordWrap(true);
    m_text->setAlignment(Qt::AlignTop | Qt::AlignLeft);
    m_text->setMinimumHeight(80);
    m_text->setStyleSheet(QStringLiteral("QLabel { background: palette(base); border-radius: 6px; padding: 8px; }"));
    // A long step text scrolls in a short dock instead of being cut off.
    auto* scroll = new QScrollArea(this);
    scroll->setWidget(m_text);
    scroll->setWidgetResizable(true);
    scroll->setFrameShape(QFrame::NoFrame);
    scroll->setHorizontalScrollBarPolicy(Qt::ScrollBarAlwaysOff);
    v->addWidget(scroll, 1);
    m_note = new QLabel(this);
    m_note->setWordWrap(true);
    v->addWidget(m_note);
    auto* buttons = new QHBoxLayout;
    m_back = new QPushButton(tr("◀ Back"), this);
    m_run = new QPushButton(tr("Do this step"), this);
    m_run->setDefault(true);
    m_next = new QPushButton(tr("Next ▶"), this);
    buttons->addWidget(m_back);
    buttons->addWidget(m_run, 1);
    buttons->addWidget(m_next);
    v->addLayout(buttons);
    m_reset = new QPushButton(tr("Reset scenario"), this);
    m_reset->setObjectName(QStringLiteral("resetScenario"));
    m_reset->setToolTip(tr("Undo every change the steps made, forget the runs shown and go back to the first step"));
    v->addWidget(m_reset);
    connect(m_reset, &QPushButton::clicked, this, &ScenarioPanel::resetRequested);

    connect(m_back, &QPushButton::clicked, this, [this] { setCurrentStep(m_current - 1); });
    connect(m_next, &QPushButton::clicked, this, [this] { setCurrentStep(m_current + 1); });
    connect(m_run, &QPushButton::clicked, this, [this] { Q_EMIT runStepRequested(m_current); });
    connect(m_steps, &QListWidget::currentRowChanged, this, [this](int r) {
        if (r >= 0 && r != m_current) setCurrentStep(r);
    });
    connect(m_examples, &QComboBox::activated, this, [this](int i) {
        const QString f = m_examples->itemData(i).toString();
        if (!f.isEmpty()) Q_EMIT openRequested(f);
    });
    connect(doc, &ProjectDocument::reset, this, [this] {
        m_current = 0;
        m_note->clear();
        rebuild();
        if (m_doc->project().scenario) Q_EMIT stepShown(0);
    });
    rebuild();
}

void ScenarioPanel::setExamples(const QStringList& files) {
    m_examples->clear();
    m_examples->addItem(tr("Open a classroom scenario…"), QString());
    for (const QString& f : files) {
        auto r = moe::spec::loadProject(f.toStdString());
        if (!r.ok() || !r->scenario) continue;
        m_examples->addItem(QString::fromStdString(r->scenario->title) + QStringLiteral(" — ") + QFileInfo(f).fileName(), f);
    }
}

void ScenarioPanel::rebuild() {
    m_steps->clear();
    const auto& sc = m_doc->project().scenario;
    if (!sc || sc->steps.empty()) {
        m_title->setText(tr("No scenario in this project"));
        m_text->setText(tr("Classroom scenarios are guided lessons stored in a project. Open one from the list above."));
        for (auto* b : {m_back, m_run, m_next, m_reset}) b->setEnabled(false);
        m_note->clear();
        return;
    }
    m_title->setText(QString::fromStdString(sc->title));
    for (size_t i = 0; i < sc->steps.size(); ++i)
        m_steps->addItem(QStringLiteral("%1. %2").arg(i + 1).arg(QString::fromStdString(sc->steps[i].title)));
    showStep();
}

void ScenarioPanel::setCurrentStep(int i) {
    const auto& sc = m_doc->project().scenario;
    if (!sc || i < 0 || i >= static_cast<int>(sc->steps.size())) return;
    if (i != m_current) m_note->clear();  // a note speaks of the step it was written for
    m_current = i;
    showStep();
    Q_EMIT stepShown(m_current);
}

QString ScenarioPanel::describeEdit(const std::string& path, const nlohmann::ordered_json& value) {
    static const std::pair<const char*, const char*> kWhat[] = {
        {"losses.aux", QT_TR_NOOP("the load-balancing loss")},
        {"losses.z", QT_TR_NOOP("the router z-loss")},
        {"router.noise", QT_TR_NOOP("the router noise")},
        {"router.k", QT_TR_NOOP("the experts per token (k)")},
        {"router.kind", QT_TR_NOOP("the router")},
        {"router.temperature", QT_TR_NOOP("the router temperature")},
        {"capacity.factor", QT_TR_NOOP("the capacity factor")},
        {"capacity.dropless", QT_TR_NOOP("dropless routing")},
        {"experts", QT_TR_NOOP("the number of experts")},
        {"training.learning_rate", QT_TR_NOOP("the learning rate")},
        {"training.steps", QT_TR_NOOP("the planned training steps")},
    };
    const QString v = value.is_string() ? QString::fromStdString(value.get<std::string>())
                      : value.is_boolean() ? (value.get<bool>() ? tr("on") : tr("off"))
                                           : QString::fromStdString(value.dump());
    // Which blocks: "model.blocks[*]." is every block, "model.blocks[2]." block 2 (the canvas counts from 0).
    QString where;
    std::string rest = path;
    static const std::regex kBlock(R"(^model\.blocks\[(\*|\d+)\]\.(.*)$)");
    std::smatch m;
    if (std::regex_match(path, m, kBlock)) {
        where = m[1] == "*" ? tr(" in every block") : tr(" in block %1").arg(std::stoi(m[1].str()));
        rest = m[2];
    }
    for (const auto& [key, what] : kWhat)
        if (rest == key) return tr("set %1 to %2%3").arg(tr(what), v, where);
    return tr("set %1 to %2").arg(QString::fromStdString(path), v);
}

QStringList ScenarioPanel::describe(const moe::spec::ScenarioStep& st) {
    QStringList does;
    if (!st.edits.is_null() && !st.edits.empty())
        for (auto it = st.edits.begin(); it != st.edits.end(); ++it) does << describeEdit(it.key(), it.value());
    if (!does.isEmpty() && st.trainSteps > 0) does << tr("train %n steps from scratch", nullptr, st.trainSteps);
    else if (st.trainSteps > 0) does << tr("train %n steps", nullptr, st.trainSteps);
    if (st.compareRuns) does << tr("compare the last two runs");
    return does;
}

void ScenarioPanel::setBusy(bool busy, const QString& note) {
    m_busy = busy;
    m_note->setText(note);
    showStep();
}

void ScenarioPanel::showStep() {
    const auto& sc = m_doc->project().scenario;
    if (!sc || sc->steps.empty()) return;
    m_current = std::clamp(m_current, 0, static_cast<int>(sc->steps.size()) - 1);
    const auto& st = sc->steps[static_cast<size_t>(m_current)];
    {
        const QSignalBlocker b(m_steps);
        m_steps->setCurrentRow(m_current);
    }
    QString html = QStringLiteral("<p><b>%1</b></p><p>%2</p>").arg(QString::fromStdString(st.title).toHtmlEscaped(),
                                                                      QString::fromStdString(st.text).toHtmlEscaped());
    const QStringList does = describe(st);
    if (!does.isEmpty()) html += QStringLiteral("<p><i>%1</i></p>").arg(tr("This step will: %1").arg(does.join(QStringLiteral(", "))).toHtmlEscaped());
    m_text->setText(html);
    m_back->setEnabled(!m_busy && m_current > 0);
    m_next->setEnabled(!m_busy && m_current + 1 < static_cast<int>(sc->steps.size()));
    m_run->setEnabled(!m_busy && !does.isEmpty());
    m_reset->setEnabled(true);
    m_run->setText(does.isEmpty() ? tr("Read and discuss") : tr("Do this step"));
}

}  // namespace moe::studio
