#include "document.h"

#include <QFileInfo>
#include <QUndoCommand>

#include <algorithm>
#include <regex>
#include <set>

#include "moe/spec/project_io.h"
#include "moe/spec/validate.h"

namespace moe::studio {
namespace spec = moe::spec;

namespace {

// Swaps whole document states; consecutive edits with the same merge key collapse into one step.
class StateCommand : public QUndoCommand {
public:
    StateCommand(ProjectDocument* doc, DocState before, DocState after, const QString& text, QString mergeKey)
        : QUndoCommand(text), m_doc(doc), m_before(std::move(before)), m_after(std::move(after)), m_key(std::move(mergeKey)) {}
    void redo() override { m_doc->setState(m_after); }
    void undo() override { m_doc->setState(m_before); }
    int id() const override { return m_key.isEmpty() ? -1 : 1; }
    bool mergeWith(const QUndoCommand* other) override {
        const auto* o = static_cast<const StateCommand*>(other);
        if (o->m_key != m_key) return false;
        m_after = o->m_after;
        return true;
    }

private:
    ProjectDocument* m_doc;
    DocState m_before, m_after;
    QString m_key;
};

}  // namespace

ProjectDocument::ProjectDocument(QObject* parent) : QObject(parent) {
    connect(&m_undo, &QUndoStack::cleanChanged, this, &ProjectDocument::fileChanged);
    replaceAll(defaultProject(), {});
}

// The undo stack outlives this object's body and signals while it clears.
ProjectDocument::~ProjectDocument() { m_undo.disconnect(); }

spec::BlockSpec ProjectDocument::defaultMoeBlock() {
    spec::BlockSpec b;
    b.kind = spec::BlockKind::Moe;
    b.experts = spec::kDefaultExperts;
    b.router.k = spec::kDefaultK;
    return b;
}

spec::BlockSpec ProjectDocument::defaultDenseBlock() {
    spec::BlockSpec b;
    b.kind = spec::BlockKind::Dense;
    return b;
}

spec::Project ProjectDocument::defaultProject() {
    spec::Project p;
    p.description = "A new MoE network";
    p.model.name = "Untitled network";
    p.model.input.dataset = spec::DatasetKind::Spirals;
    p.model.input.noise = 0.05;
    p.model.blocks = {defaultDenseBlock(), defaultMoeBlock()};
    p.training.steps = 500;
    p.training.trainSamples = 2000;
    p.training.testSamples = 500;
    p.training.learningRate = 0.01;
    return p;
}

int ProjectDocument::indexOf(BlockId id) const {
    const auto& ids = m_state.blockIds;
    auto it = std::find(ids.begin(), ids.end(), id);
    return it == ids.end() ? -1 : static_cast<int>(it - ids.begin());
}

BlockId ProjectDocument::idAt(int index) const {
    if (index < 0 || index >= static_cast<int>(m_state.blockIds.size())) return 0;
    return m_state.blockIds[static_cast<size_t>(index)];
}

QString ProjectDocument::displayName() const {
    return m_path.isEmpty() ? tr("Untitled") : QFileInfo(m_path).fileName();
}

std::string ProjectDocument::pathOf(const ItemRef& item) const {
    switch (item.kind) {
        case ItemRef::Input: return "model.input";
        case ItemRef::Stem: return "model.stem";
        case ItemRef::Head: return "model.head";
        case ItemRef::Block: {
            const int i = indexOf(item.block);
            if (i < 0) return {};
            const std::string block = "model.blocks[" + std::to_string(i) + "]";
            return item.child < 0 ? block : block + ".blocks[" + std::to_string(item.child) + "]";
        }
        case ItemRef::Model: return "model";
        case ItemRef::None: break;
    }
    return {};
}

ItemRef ProjectDocument::itemForPath(const std::string& path) const {
    static const std::regex block(R"(^model\.blocks\[(\d+)\](\.blocks\[(\d+)\])?)");
    std::smatch m;
    if (std::regex_search(path, m, block)) {
        const int i = std::stoi(m[1].str());
        int child = m[3].matched ? std::stoi(m[3].str()) : -1;
        if (BlockId id = idAt(i)) {
            const auto& b = project().model.blocks[static_cast<size_t>(i)];
            if (child >= static_cast<int>(b.children.size())) child = -1;
            return {ItemRef::Block, id, child};
        }
        return {ItemRef::Model, 0};
    }
    auto starts = [&](const char* p) { return path.rfind(p, 0) == 0; };
    if (starts("model.input")) return {ItemRef::Input, 0};
    if (starts("model.stem")) return {ItemRef::Stem, 0};
    if (starts("model.head")) return {ItemRef::Head, 0};
    return {ItemRef::Model, 0};
}

std::vector<Problem> ProjectDocument::problemsFor(const ItemRef& item) const {
    std::vector<Problem> out;
    for (const auto& p : m_problems) {
        // A schedule problem concerns every MoE block it spreads experts over.
        const bool schedule = p.diagnostic.path.rfind("model.schedule", 0) == 0;
        const bool moeBlock = item.kind == ItemRef::Block && indexOf(item.block) >= 0 &&
                              project().model.blocks[static_cast<size_t>(indexOf(item.block))].kind == spec::BlockKind::Moe;
        if (p.item == item || (schedule && moeBlock)) out.push_back(p);
    }
    return out;
}

void ProjectDocument::revalidate() {
    m_problems.clear();
    for (auto& d : spec::validateProject(m_state.project)) m_problems.push_back({d, itemForPath(d.path)});
}

QString ProjectDocument::checkEdit(const Mutation& m, const QString& path) const {
    spec::Project copy = m_state.project;
    m(copy);
    const auto refused = spec::validateLimits(copy);
    if (refused.empty()) return {};
    const std::string at = path.toStdString();
    const auto own = std::find_if(refused.begin(), refused.end(), [&](const spec::Diagnostic& d) { return d.path == at; });
    return QString::fromStdString((own != refused.end() ? *own : refused.front()).message);
}

void ProjectDocument::setReadOnly(bool readOnly, const QString& reason) {
    m_readOnly = readOnly;
    m_readOnlyReason = reason;
}

QString ProjectDocument::edit(const QString& text, const Mutation& m, const QString& mergeKey) {
    if (m_readOnly) return m_readOnlyReason;
    if (QString why = checkEdit(m, mergeKey); !why.isEmpty()) return why;
    DocState next = m_state;
    m(next.project);
    pushState(text, std::move(next), mergeKey);
    return {};
}

namespace {
// The state after scenario-style edits; `error` holds the reader's message when they do not apply.
std::optional<DocState> editedState(const DocState& from, const nlohmann::ordered_json& edits, QString* error,
                                    const std::function<BlockId()>& nextId) {
    auto r = spec::applyEdits(from.project, edits);
    if (!r.ok()) {
        *error = QString::fromStdString(r.message());
        return std::nullopt;
    }
    DocState next = from;
    next.project = std::move(r.value());
    if (next.project.model.blocks.size() != next.blockIds.size()) {
        next.blockIds.clear();
        for (size_t i = 0; i < next.project.model.blocks.size(); ++i) next.blockIds.push_back(nextId());
    }
    return next;
}
}  // namespace

QString ProjectDocument::applyJsonEdits(const nlohmann::ordered_json& edits, const QString& text) {
    if (m_readOnly) return m_readOnlyReason;
    QString error;
    auto next = editedState(m_state, edits, &error, [this] { return nextId(); });
    if (!next) return error;
    pushState(text, std::move(*next));
    return {};
}

QString ProjectDocument::applyScenarioEdits(const nlohmann::ordered_json& edits) {
    if (m_readOnly) return m_readOnlyReason;
    QString error;
    auto next = editedState(m_state, edits, &error, [this] { return nextId(); });
    if (!next) return error;
    if (!m_scenarioBase) m_scenarioBase = m_state;
    setState(*next);
    return {};
}

void ProjectDocument::resetScenario() {
    if (!m_scenarioBase || m_readOnly) return;
    const DocState base = std::move(*m_scenarioBase);
    m_scenarioBase.reset();
    setState(base);
}

BlockId ProjectDocument::insertBlock(int index, const spec::BlockSpec& block, const QString& text) {
    DocState next = m_state;
    index = std::clamp(index, 0, static_cast<int>(next.blockIds.size()));
    const BlockId id = nextId();
    next.project.model.blocks.insert(next.project.model.blocks.begin() + index, block);
    next.blockIds.insert(next.blockIds.begin() + index, id);
    const QString kind = block.kind == spec::BlockKind::Moe ? tr("MoE block") : tr("dense block");
    pushState(text.isEmpty() ? tr("Add %1").arg(kind) : text, std::move(next));
    return id;
}

void ProjectDocument::removeBlocks(const std::vector<BlockId>& ids) {
    DocState next = m_state;
    const std::set<BlockId> gone(ids.begin(), ids.end());
    DocState kept;
    kept.project = next.project;
    kept.project.model.blocks.clear();
    for (size_t i = 0; i < next.blockIds.size(); ++i) {
        if (gone.count(next.blockIds[i])) continue;
        kept.project.model.blocks.push_back(next.project.model.blocks[i]);
        kept.blockIds.push_back(next.blockIds[i]);
    }
    const int removed = static_cast<int>(next.blockIds.size() - kept.blockIds.size());
    if (removed == 0) return;
    pushState(removed == 1 ? tr("Delete block") : tr("Delete %1 blocks").arg(removed), std::move(kept));
}

std::vector<BlockId> ProjectDocument::duplicateBlocks(const std::vector<BlockId>& ids) {
    DocState next = m_state;
    std::vector<BlockId> created;
    // Each copy goes right after its original; walk from the back so indices stay valid.
    std::vector<int> indices;
    for (BlockId id : ids)
        if (int i = indexOf(id); i >= 0) indices.push_back(i);
    std::sort(indices.begin(), indices.end());
    for (auto it = indices.rbegin(); it != indices.rend(); ++it) {
        const int i = *it;
        const BlockId id = nextId();
        next.project.model.blocks.insert(next.project.model.blocks.begin() + i + 1, next.project.model.blocks[static_cast<size_t>(i)]);
        next.blockIds.insert(next.blockIds.begin() + i + 1, id);
        created.insert(created.begin(), id);
    }
    if (created.empty()) return created;
    pushState(created.size() == 1 ? tr("Duplicate block") : tr("Duplicate %1 blocks").arg(created.size()), std::move(next));
    return created;
}

void ProjectDocument::moveBlock(BlockId id, int newIndex) {
    const int from = indexOf(id);
    if (from < 0) return;
    DocState next = m_state;
    auto& blocks = next.project.model.blocks;
    newIndex = std::clamp(newIndex, 0, static_cast<int>(blocks.size()) - 1);
    if (newIndex == from) return;
    spec::BlockSpec b = blocks[static_cast<size_t>(from)];
    blocks.erase(blocks.begin() + from);
    blocks.insert(blocks.begin() + newIndex, b);
    next.blockIds.erase(next.blockIds.begin() + from);
    next.blockIds.insert(next.blockIds.begin() + newIndex, id);
    pushState(tr("Move block"), std::move(next));
}

void ProjectDocument::pushState(const QString& text, DocState next, const QString& mergeKey) {
    if (m_readOnly) return;
    m_undo.push(new StateCommand(this, m_state, std::move(next), text, mergeKey));
}

void ProjectDocument::setState(const DocState& s) {
    m_state = s;
    revalidate();
    Q_EMIT changed();
}

void ProjectDocument::replaceAll(const spec::Project& p, const QString& path) {
    m_state.project = p;
    m_state.blockIds.clear();
    for (size_t i = 0; i < p.model.blocks.size(); ++i) m_state.blockIds.push_back(nextId());
    m_path = path;
    m_undo.clear();
    m_scenarioBase.reset();
    revalidate();
    Q_EMIT reset();
    Q_EMIT changed();
    Q_EMIT fileChanged();
}

void ProjectDocument::newProject() { replaceAll(defaultProject(), {}); }

bool ProjectDocument::open(const QString& path, QString* error) {
    auto r = spec::loadProject(path.toStdString());
    if (!r.ok()) {
        if (error) *error = QString::fromStdString(r.message());
        return false;
    }
    replaceAll(r.value(), QFileInfo(path).absoluteFilePath());
    return true;
}

bool ProjectDocument::save(const QString& path, QString* error) {
    const std::string err = spec::saveProject(m_state.project, path.toStdString());
    if (!err.empty()) {
        if (error) *error = QString::fromStdString(err);
        return false;
    }
    m_path = QFileInfo(path).absoluteFilePath();
    m_undo.setClean();
    Q_EMIT fileChanged();
    return true;
}

void ProjectDocument::adopt(const spec::Project& project, const QString& path) {
    replaceAll(project, path);
    // Not what is on disk: no state of the stack matches the file.
    m_undo.resetClean();
    Q_EMIT fileChanged();
}

}  // namespace moe::studio
