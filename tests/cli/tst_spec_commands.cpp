// `moe validate`, `moe describe`, `moe schedule` and argument errors, run as a user would.
#include <QtTest>

#include <nlohmann/json.hpp>

namespace {

struct Run {
    int code = -1;
    QString out, err;
};

Run moe(const QStringList& args) {
    QProcess p;
    p.setWorkingDirectory(MOE_SOURCE_DIR);
    p.start(MOE_CLI, args);
    p.waitForFinished(60000);
    return {p.exitCode(), QString::fromUtf8(p.readAllStandardOutput()), QString::fromUtf8(p.readAllStandardError())};
}

}  // namespace

class TestSpecCommands : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void validateExamplesClean() {
        QStringList files = QDir(MOE_SOURCE_DIR "/projects").entryList({"*.json"}, QDir::Files);
        QVERIFY(files.size() >= 7);
        for (auto& f : files) f = "projects/" + f;
        const Run r = moe(QStringList{"validate"} + files);
        QCOMPARE(r.code, 0);
        QVERIFY2(r.out.contains(QString("%1 valid, 0 invalid").arg(files.size())), qPrintable(r.out));
    }

    void validateBrokenFails() {
        const Run r = moe({"validate", "projects/collapse.json", "tests/data/broken/01_k_exceeds_experts.json"});
        QCOMPARE(r.code, 1);
        QVERIFY(r.out.contains("projects/collapse.json: ok"));
        QVERIFY2(r.out.contains("01_k_exceeds_experts.json:32:16: model.blocks[1].router.k: 9 exceeds the 8 experts of this block"), qPrintable(r.out));
        const Run j = moe({"validate", "--json", "tests/data/broken/04_unknown_key_typo.json"});
        QCOMPARE(j.code, 1);
        const auto doc = nlohmann::json::parse(j.out.toStdString());
        QCOMPARE(doc[0]["valid"].get<bool>(), false);
        QCOMPARE(doc[0]["errors"][0]["line"].get<int>(), 42);
        QCOMPARE(QString::fromStdString(doc[0]["errors"][0]["path"].get<std::string>()), QString("model.blocks[1].expert"));
    }

    // The describe figures equal the hand calculation for fashion_descending (see tst_figures for
    // the conventions): stem 784*128+128; each block LN 256 + router 128*E + E * FFN(128,128).
    void describeMatchesHandCalculation() {
        const Run r = moe({"describe", "--json", "projects/fashion_descending.json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out.toStdString());
        const long long ffn = 2 * 128 * 128 + 128 + 128;  // 33024
        const long long stem = 784 * 128 + 128;
        const long long head = 256 + 128 * 10 + 10;
        long long total = stem + head;
        const int experts[] = {16, 12, 8, 4};
        for (int b = 0; b < 4; ++b) {
            const long long params = 256 + 128LL * experts[b] + experts[b] * ffn;
            QCOMPARE(j["blocks"][b]["experts"].get<int>(), experts[b]);
            QCOMPARE(j["blocks"][b]["params"].get<long long>(), params);
            QCOMPARE(j["blocks"][b]["active_params"].get<double>(), double(256 + 128 * experts[b] + 2 * ffn));
            QCOMPARE(j["blocks"][b]["flops_per_token"].get<double>(), double(2 * 128 * experts[b] + 2 * 4 * 128 * 128));
            total += params;
        }
        QCOMPARE(j["params"].get<long long>(), total);
        QCOMPARE(j["weight_bytes"]["bf16"].get<double>(), double(total * 2));
        const Run table = moe({"describe", "projects/fashion_descending.json"});
        QCOMPARE(table.code, 0);
        QVERIFY(table.out.contains("total"));
        QVERIFY(table.out.contains("1.43M"));
    }

    void schedule() {
        const Run r = moe({"schedule", "descending", "--layers", "4", "--min", "4", "--max", "16", "--json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["counts"], nlohmann::json({16, 12, 8, 4}));
        QCOMPARE(j["sum"].get<int>(), 40);
        const Run text = moe({"schedule", "pyramid", "--layers", "7", "--min", "2", "--max", "8"});
        QCOMPARE(text.code, 0);
        QVERIFY(text.out.contains("sum 32"));
        const Run ex = moe({"schedule", "explicit", "--layers", "3", "--values", "8,4,2", "--json"});
        QCOMPARE(ex.code, 0);
        QVERIFY(ex.out.contains("\"sum\": 14"));
    }

    void wrongArguments_data() {
        QTest::addColumn<QStringList>("args");
        QTest::addColumn<QString>("message");
        QTest::newRow("unknown command") << QStringList{"trian"} << "unknown command 'trian'";
        QTest::newRow("unknown option") << QStringList{"describe", "projects/collapse.json", "--jsn"} << "unknown option --jsn (did you mean --json?)";
        QTest::newRow("missing file arg") << QStringList{"describe"} << "missing argument: expected FILE";
        QTest::newRow("extra arg") << QStringList{"describe", "a.json", "b.json"} << "unexpected argument 'b.json'";
        QTest::newRow("bad schedule") << QStringList{"schedule", "pyrmid", "--layers", "3", "--max", "4"} << "unknown schedule 'pyrmid'";
        QTest::newRow("layers not a number") << QStringList{"schedule", "wave", "--layers", "x", "--max", "4"} << "--layers expects a whole number, not 'x'";
        QTest::newRow("layers out of range") << QStringList{"schedule", "wave", "--layers", "0", "--max", "4"} << "--layers 0 is out of range";
        QTest::newRow("min above max") << QStringList{"schedule", "wave", "--layers", "3", "--min", "9", "--max", "4"} << "max (4) is below min (9)";
        QTest::newRow("value missing") << QStringList{"schedule", "wave", "--layers"} << "--layers needs a value";
        QTest::newRow("single dash") << QStringList{"describe", "-j"} << "unknown option -j";
    }
    void wrongArguments() {
        QFETCH(QStringList, args);
        QFETCH(QString, message);
        const Run r = moe(args);
        QCOMPARE(r.code, 2);
        QVERIFY2(r.err.contains(message), qPrintable(r.err));
        QVERIFY(r.out.isEmpty());
    }

    void missingFileIsAnErrorNotACrash() {
        const Run r = moe({"describe", "no/such/project.json"});
        QCOMPARE(r.code, 1);
        QVERIFY2(r.err.contains("cannot open no/such/project.json"), qPrintable(r.err));
    }

    void helpEverywhere() {
        const Run top = moe({"--help"});
        QCOMPARE(top.code, 0);
        for (const char* name : {"validate", "describe", "schedule"}) {
            const QString cmd = name;
            QVERIFY(top.out.contains("  " + cmd));
            const Run h = moe({cmd, "--help"});
            QCOMPARE(h.code, 0);
            QVERIFY(h.out.startsWith("usage: moe " + cmd));
        }
    }
};

QTEST_GUILESS_MAIN(TestSpecCommands)
#include "tst_spec_commands.moc"
