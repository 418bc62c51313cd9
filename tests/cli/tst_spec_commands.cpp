// `moe validate`, `moe describe`, `moe schedule` and argument errors, run as a user would.
#include <QtTest>

#include <nlohmann/json.hpp>
#include "test_time.h"

namespace {

struct Run {
    int code = -1;
    QString out, err;
};

Run moe(const QStringList& args) {
    QProcess p;
    p.setWorkingDirectory(MOE_SOURCE_DIR);
    p.start(MOE_CLI, args);
    p.waitForFinished(test_time::scaled(60000));
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

    // The transformer miniatures validate; describe gives the hand calculation of tst_figures'
    // tinyTransformerByHand per layer and in total, and summarises the group in rows.
    void describeTransformer() {
        const Run v = moe({"validate", "tests/data/spec/tiny_transformer.json", "tests/data/spec/mixtral_mini.json",
                           "tests/data/spec/deepseek_mini.json"});
        QCOMPARE(v.code, 0);
        QVERIFY2(v.out.contains("3 valid, 0 invalid"), qPrintable(v.out));
        const Run r = moe({"describe", "--json", "tests/data/spec/tiny_transformer.json"});
        QCOMPARE(r.code, 0);
        const auto j = nlohmann::json::parse(r.out.toStdString());
        QCOMPARE(j["blocks"].size(), size_t(4));
        QCOMPARE(j["blocks"][0]["kind"].get<std::string>(), std::string("attention"));
        QCOMPARE(j["blocks"][0]["params"].get<long long>(), 3104LL);
        QCOMPARE(j["blocks"][0]["flops_per_token"].get<double>(), 7232.0);  // 2*3072 + 4*32*(16+1)/2
        QCOMPARE(j["blocks"][0]["kv_cache_bytes_per_token"].get<double>(), 64.0);  // 2*2*8 bf16
        QCOMPARE(j["blocks"][1]["kind"].get<std::string>(), std::string("dense"));
        QCOMPARE(j["blocks"][1]["params"].get<long long>(), 6176LL);  // 3*32*64 + 32
        QCOMPARE(j["blocks"][3]["origin"]["repeat"].get<int>(), 1);
        QCOMPARE(j["blocks"][3]["active_params"].get<double>(), 3232.0);
        QCOMPARE(j["params"].get<long long>(), 26912LL);
        QCOMPARE(j["params_without_embedding"].get<long long>(), 18720LL);
        QCOMPARE(j["flops_per_token"].get<double>(), 49536.0);
        QCOMPARE(j["kv_cache_bytes_per_token"].get<double>(), 128.0);
        QCOMPARE(j["authored"][0]["layers"].get<int>(), 4);
        const Run fp32 = moe({"describe", "--json", "--dtype", "fp32", "tests/data/spec/tiny_transformer.json"});
        QCOMPARE(nlohmann::json::parse(fp32.out.toStdString())["kv_cache_bytes_per_token"].get<double>(), 256.0);
        // Rows: the first_dense repeat, then the moe repeats; --layers lists all four.
        const Run table = moe({"describe", "tests/data/spec/deepseek_mini.json"});
        QCOMPARE(table.code, 0);
        QVERIFY2(table.out.contains("attention mla + dense x1"), qPrintable(table.out));
        QVERIFY2(table.out.contains("attention mla + moe x3"), qPrintable(table.out));
        QVERIFY2(table.out.contains("2-7"), qPrintable(table.out));
        QVERIFY2(table.out.contains("KV cache (bf16)"), qPrintable(table.out));
        const Run layers = moe({"describe", "--layers", "tests/data/spec/deepseek_mini.json"});
        QCOMPARE(layers.code, 0);
        QCOMPARE(layers.out.count("attention mla"), 4);
        const Run bad = moe({"describe", "--dtype", "int3", "tests/data/spec/tiny_transformer.json"});
        QCOMPARE(bad.code, 2);
        QVERIFY2(bad.err.contains("--dtype 'int3' is not a dtype"), qPrintable(bad.err));
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
        QVERIFY(!text.out.contains("note:"));  // 7 layers: the middle one is the peak
        // An even count never reaches max: said, not left for the reader to find.
        const Run even = moe({"schedule", "pyramid", "--layers", "4", "--min", "2", "--max", "8"});
        QVERIFY2(even.out.contains("note: the largest count is"), qPrintable(even.out));
        const Run one = moe({"schedule", "uniform", "--layers", "1", "--max", "8"});
        QVERIFY2(one.out.contains(", 1 layer (sum"), qPrintable(one.out));
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
        QTest::newRow("too many sizes") << QStringList{"collective", "all_reduce", "--cluster", "hgx-h100", "--gpus", "8", "--sizes", "1:1T:1.000000001"}
                                         << "gives 27.73G sizes; at most 200";
        QTest::newRow("sizes list too long") << QStringList{"collective", "all_reduce", "--cluster", "hgx-h100", "--gpus", "8", "--sizes", QString("1,").repeated(300) + "1"} << "more than 200 sizes";
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

    // --json output is JSON whatever bytes the files hold: a byte order mark is skipped, and a
    // diagnostic about an invalid byte names it in hex instead of quoting it.
    void validateJsonIsAlwaysJson() {
        QTemporaryDir dir;
        QFile src(MOE_SOURCE_DIR "/tests/data/train/crash.json");
        QVERIFY(src.open(QIODevice::ReadOnly));
        const QString bom = dir.filePath("bom.json");
        QFile out(bom);
        QVERIFY(out.open(QIODevice::WriteOnly));
        out.write("\xEF\xBB\xBF" + src.readAll());
        out.close();
        const Run r = moe({"validate", "--json", bom, "tests/data/broken/95_invalid_utf8_byte.json", "tests/data/broken/96_bom_then_invalid_utf8.json",
                           "tests/data/broken/92_lone_high_surrogate.json"});
        QCOMPARE(r.code, 1);
        const auto doc = nlohmann::json::parse(r.out.toStdString(), nullptr, false);
        QVERIFY2(doc.is_array() && doc.size() == 4, qPrintable(r.out + r.err));
        QCOMPARE(doc[0]["valid"].get<bool>(), true);
        for (size_t i = 1; i < 4; ++i) QCOMPARE(doc[i]["valid"].get<bool>(), false);
        QVERIFY(doc[1]["errors"][0]["message"].get<std::string>().find("0xFF") != std::string::npos);
        QCOMPARE(doc[3]["errors"][0]["line"].get<int>(), 5);
        QCOMPARE(doc[3]["errors"][0]["column"].get<int>(), 20);
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
