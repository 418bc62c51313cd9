#include "recovery.h"

#include <QDir>
#include <QFile>
#include <QStandardPaths>
#include <QUuid>

#include <algorithm>

#include <nlohmann/json.hpp>

#include "moe/spec/atomic_file.h"
#include "moe/spec/project_io.h"

namespace moe::studio {
namespace spec = moe::spec;

namespace {
constexpr const char* kRecoveryFormat = "moe-studio-recovery/1";
}

QString RecoveryStore::defaultDir() {
    return QStandardPaths::writableLocation(QStandardPaths::AppLocalDataLocation) + QStringLiteral("/recovery");
}

RecoveryStore::RecoveryStore(const QString& dir) {
    QDir().mkpath(dir);
    m_file = QDir(dir).filePath(QStringLiteral("autosave-%1.json").arg(QUuid::createUuid().toString(QUuid::Id128).left(12)));
    m_lock = std::make_unique<QLockFile>(m_file + QStringLiteral(".lock"));
    m_lock->setStaleLockTime(0);  // stale only when the owning process is gone
    m_lock->tryLock(0);
}

RecoveryStore::~RecoveryStore() = default;

bool RecoveryStore::hasFile() const { return QFile::exists(m_file); }

bool RecoveryStore::write(const spec::Project& project, const QString& originalPath, QString* error) {
    nlohmann::ordered_json j;
    j["format"] = kRecoveryFormat;
    j["path"] = originalPath.toStdString();
    j["saved_at"] = QDateTime::currentDateTimeUtc().toString(Qt::ISODate).toStdString();
    j["project"] = spec::toJson(project);
    const std::string err = spec::writeFileAtomic(m_file.toStdString(), j.dump(2) + "\n");
    if (!err.empty() && error) *error = QString::fromStdString(err);
    return err.empty();
}

void RecoveryStore::discard() { QFile::remove(m_file); }

QList<RecoveryStore::Orphan> RecoveryStore::orphans(const QString& dir) {
    QList<Orphan> out;
    const QDir d(dir);
    for (const QString& name : d.entryList({QStringLiteral("autosave-*.json")}, QDir::Files)) {
        const QString file = d.filePath(name);
        QLockFile lock(file + QStringLiteral(".lock"));
        lock.setStaleLockTime(0);
        if (!lock.tryLock(0)) continue;  // its studio is still running
        lock.unlock();
        Orphan o;
        o.file = file;
        std::string text, err;
        if (spec::readFile(file.toStdString(), text, err)) {
            const auto j = nlohmann::json::parse(text, nullptr, false);
            if (j.is_object()) {
                o.originalPath = QString::fromStdString(j.value("path", std::string()));
                o.savedAt = QDateTime::fromString(QString::fromStdString(j.value("saved_at", std::string())), Qt::ISODate);
            }
        }
        out.push_back(o);
    }
    std::sort(out.begin(), out.end(), [](const Orphan& a, const Orphan& b) { return a.savedAt > b.savedAt; });
    return out;
}

spec::Result<spec::Project> RecoveryStore::read(const QString& file) {
    std::string text, err;
    if (!spec::readFile(file.toStdString(), text, err)) return spec::Diagnostics{{"", err, 0, 0, file.toStdString()}};
    const auto j = nlohmann::ordered_json::parse(text, nullptr, false);
    if (!j.is_object() || j.value("format", std::string()) != kRecoveryFormat || !j.contains("project"))
        return spec::Diagnostics{{"", std::string("not a recovery file (expected \"format\": \"") + kRecoveryFormat + "\")", 0, 0,
                                  file.toStdString()}};
    return spec::parseProject(j["project"].dump(2), file.toStdString());
}

void RecoveryStore::remove(const QString& file) {
    QFile::remove(file);
    QFile::remove(file + QStringLiteral(".lock"));
}

}  // namespace moe::studio
