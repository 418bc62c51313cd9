// `moe plan`, `moe cost` and `moe export` end to end: JSON shape, exit codes, and bad layouts named
// alike by every command.
#include <QJsonArray>
#include <QJsonDocument>
#include <QJsonObject>
#include <QProcess>
#include <QTemporaryDir>
#include <QtTest>
#include "test_time.h"

namespace {

struct Run {
    int code = -1;
    QByteArray out, err;
};

Run moe(const QStringList& args) {
    QProcess p;
    p.start(MOE_CLI_PATH, args);
    p.waitForFinished(test_time::scaled(120000));
    return {p.exitCode(), p.readAllStandardOutput(), p.readAllStandardError()};
}

QString data(const char* name) { return QString(MOE_SOURCE_DIR) + "/tests/data/cluster/" + name; }

// A copy of a fixture with one text replacement.
QString edited(QTemporaryDir& dir, const char* name, const QByteArray& from, const QByteArray& to) {
    QFile in(data(name));
    in.open(QIODevice::ReadOnly);
    QByteArray text = in.readAll();
    if (!text.contains(from)) qFatal("fixture %s lacks %s", name, from.constData());
    text.replace(from, to);
    const QString path = dir.filePath(name);
    QFile out(path);
    out.open(QIODevice::WriteOnly);
    out.write(text);
    return path;
}

}  // namespace

class TestPlanCli : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void planJson() {
        auto r = moe({"plan", data("mixtral_8x7b.json"), "--cluster", "hgx-h100", "--gpus", "64", "--top", "3", "--json"});
        QVERIFY2(r.code == 0, r.err.constData());
        const auto j = QJsonDocument::fromJson(r.out).object();
        const auto rows = j["rows"].toArray();
        QCOMPARE(rows.size(), 3);
        const auto first = rows[0].toObject();
        QVERIFY(first["memory"].toObject()["fits"].toBool());
        QVERIFY(first["step"].toObject()["step_us"].toDouble() > 0);
        QVERIFY(first["reason"].toString().contains("beats #2"));
        QVERIFY(j["fitting"].toInt() <= j["enumerated"].toInt());
    }
    void costText() {
        auto r = moe({"cost", data("qwen3_235b_a22b.json")});
        QVERIFY2(r.code == 0, r.err.constData());
        QVERIFY(r.out.contains("fits"));
        QVERIFY(r.out.contains("expert all-to-all"));
    }
    void tooManyGpusIsAUsageError() {
        auto r = moe({"plan", data("mixtral_8x7b.json"), "--cluster", "hgx-h100-1switch", "--gpus", "4096"});
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains("--gpus"), r.err.constData());
    }
    void badLayoutNamedAlikeByEveryCommand() {
        QTemporaryDir dir;
        const QString path = edited(dir, "qwen3_235b_a22b.json", "\"tp\": 2", "\"tp\": 8");
        for (const QStringList& args : {QStringList{"cost", path}, QStringList{"export", "megatron", path}, QStringList{"export", "deepspeed", path}}) {
            auto r = moe(args);
            QCOMPARE(r.code, 1);
            QVERIFY2(r.err.contains("deployment.parallel.tp") && r.err.contains("valid: 1, 2, 4"), r.err.constData());
        }
    }
    void badValueHasLineAndColumn() {
        QTemporaryDir dir;
        const QString path = edited(dir, "deepseek_v3.json", "\"recompute\": \"full\"", "\"recompute\": \"most\"");
        auto r = moe({"plan", path, "--gpus", "1024"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("deployment.recompute") && r.err.contains("none, selective or full"), r.err.constData());
        QVERIFY2(QRegularExpression(":[0-9]+:[0-9]+:").match(QString::fromUtf8(r.err)).hasMatch(), r.err.constData());
    }
};

QTEST_GUILESS_MAIN(TestPlanCli)
#include "tst_plan_cli.moc"
