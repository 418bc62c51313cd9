// Text for the byte-level language models: the tokenizer, UTF-8 checks, corpus errors, the
// held-out split and the training windows. Torch-free.
#include <QtTest/QtTest>

#include <filesystem>
#include <fstream>
#include <set>

#include "moe/train/datasets.h"

using namespace moe::train;

namespace {

std::string writeFile(const QTemporaryDir& dir, const std::string& name, const std::string& bytes) {
    const std::string path = (dir.path() + "/").toStdString() + name;
    std::ofstream(path, std::ios::binary) << bytes;
    return path;
}

moe::spec::InputSpec textInput(const std::string& corpus, int seqLen) {
    moe::spec::InputSpec in;
    in.dataset = moe::spec::DatasetKind::Text;
    in.corpus = corpus;
    in.seqLen = seqLen;
    return in;
}

}  // namespace

class TestTextCorpus : public QObject {
    Q_OBJECT

private Q_SLOTS:
    void bytesRoundTripIncludingMultiByteUtf8() {
        // ASCII, 2-byte (é), 3-byte (€, 中) and 4-byte (𝄞) characters and a NUL byte.
        const std::string text = std::string("caf\xC3\xA9 \xE2\x82\xAC 5 \xE4\xB8\xAD \xF0\x9D\x84\x9E") + std::string(1, '\0') + "!";
        const auto ids = encodeBytes(text);
        QCOMPARE(ids.size(), text.size());
        QCOMPARE(ids[3], std::int64_t(0xC3));
        QCOMPARE(ids[4], std::int64_t(0xA9));
        for (auto id : ids) QVERIFY(id >= 0 && id < kByteVocab);
        QCOMPARE(decodeBytes(ids), text);
        QCOMPARE(firstInvalidUtf8(text), std::int64_t(-1));
        std::string all;
        for (int b = 0; b < 256; ++b) all.push_back(static_cast<char>(b));
        QCOMPARE(decodeBytes(encodeBytes(all)), all);
    }

    void invalidUtf8IsLocated() {
        QCOMPARE(firstInvalidUtf8("ab\x80" "c"), std::int64_t(2));          // lone continuation byte
        QCOMPARE(firstInvalidUtf8("abc\xC3"), std::int64_t(3));             // truncated sequence
        QCOMPARE(firstInvalidUtf8("x\xC0\xAF"), std::int64_t(1));           // overlong '/'
        QCOMPARE(firstInvalidUtf8("\xED\xA0\x80"), std::int64_t(0));        // UTF-16 surrogate
        QCOMPARE(firstInvalidUtf8("ok\xF4\x90\x80\x80"), std::int64_t(2));  // above U+10FFFF
        // For the terminal: invalid bytes and escape characters become U+FFFD, the rest stays.
        QCOMPARE(printableUtf8("a\xFF" "b\x1B[2Jc\n\xC3\xA9"), std::string("a\xEF\xBF\xBD" "b\xEF\xBF\xBD[2Jc\n\xC3\xA9"));
    }

    void corpusErrorsNameWhatIsWrong() {
        QTemporaryDir dir;
        auto missingPackage = readCorpusText("fortunes", {}, (dir.path() + "/no-fortunes").toStdString());
        QVERIFY(!missingPackage.ok());
        QVERIFY2(missingPackage.message().find("apt-get install fortunes") != std::string::npos, missingPackage.message().c_str());

        auto missingFile = readCorpusText("nothing-here.txt", dir.path().toStdString());
        QVERIFY(!missingFile.ok());
        QVERIFY(missingFile.message().find("nothing-here.txt") != std::string::npos);
        QVERIFY(missingFile.message().find("model.input.corpus") != std::string::npos);

        writeFile(dir, "empty.txt", "");
        auto empty = readCorpusText("empty.txt", dir.path().toStdString());
        QVERIFY(!empty.ok());
        QVERIFY(empty.message().find("is empty") != std::string::npos);

        writeFile(dir, "latin1.txt", "plain text then caf\xE9 in Latin-1");
        auto bad = readCorpusText("latin1.txt", dir.path().toStdString());
        QVERIFY(!bad.ok());
        QVERIFY2(bad.message().find("offset 19") != std::string::npos, bad.message().c_str());

        writeFile(dir, "short.txt", "too short for the window");
        auto shortText = loadTextCorpus(textInput("short.txt", 64), dir.path().toStdString());
        QVERIFY(!shortText.ok());
        QVERIFY2(shortText.message().find("too short") != std::string::npos, shortText.message().c_str());
    }

    void fileSplitIsDisjointAndComplete() {
        QTemporaryDir dir;
        std::string text;
        for (int i = 0; i < 400; ++i) text += "Line " + std::to_string(i) + ": na\xC3\xAFve caf\xC3\xA9s.\n";
        writeFile(dir, "corpus.txt", text);
        auto c = loadTextCorpus(textInput("corpus.txt", 32), dir.path().toStdString());
        QVERIFY2(c.ok(), c.message().c_str());
        // The held-out text is the corpus's tail: together they are the corpus, byte for byte.
        QCOMPARE(c->train.size() + c->test.size(), text.size());
        QVERIFY(c->test.size() >= text.size() / 20);
        QVERIFY(c->test.size() < text.size() / 10);
        std::string joined(c->train.begin(), c->train.end());
        joined.append(c->test.begin(), c->test.end());
        QCOMPARE(joined, text);
        QCOMPARE(firstInvalidUtf8(std::string(c->test.begin(), c->test.end())), std::int64_t(-1));
    }

    void fortunesHoldOutWholeEntries() {
        QTemporaryDir dir;
        QDir(dir.path()).mkdir("fortunes");
        QDir(dir.path()).mkdir("fortunes/off");
        const std::string fdir = (dir.path() + "/fortunes").toStdString();
        std::string a, b;
        for (int i = 0; i < 30; ++i) a += "Fortune A" + std::to_string(i) + " is a saying.\n%\n";
        for (int i = 0; i < 30; ++i) b += "Fortune B" + std::to_string(i) + " is a joke.\n%\n";
        std::ofstream(fdir + "/alpha", std::ios::binary) << a;
        std::ofstream(fdir + "/beta", std::ios::binary) << b;
        std::ofstream(fdir + "/alpha.dat", std::ios::binary) << std::string("\x00\x02\xFF", 3);
        std::ofstream(fdir + "/off/rude", std::ios::binary) << "OFFENSIVE\n%\n";
        auto c = loadTextCorpus(textInput("fortunes", 16), {}, fdir);
        QVERIFY2(c.ok(), c.message().c_str());
        const std::string train(c->train.begin(), c->train.end()), test(c->test.begin(), c->test.end());
        QVERIFY(train.find("OFFENSIVE") == std::string::npos && test.find("OFFENSIVE") == std::string::npos);
        QVERIFY(train.find('%') == std::string::npos);
        // Entries 19, 39 and 59 of the 60 are held out; no entry is on both sides.
        QVERIFY(test.find("Fortune A19 ") != std::string::npos);
        QVERIFY(test.find("Fortune B9 ") != std::string::npos);
        QVERIFY(test.find("Fortune B29 ") != std::string::npos);
        for (int i = 0; i < 30; ++i)
            for (const char* side : {"A", "B"}) {
                const std::string e = std::string("Fortune ") + side + std::to_string(i) + " ";
                QVERIFY2((train.find(e) == std::string::npos) != (test.find(e) == std::string::npos), e.c_str());
            }
    }

    void windowsAreDeterministicAndInRange() {
        const auto w1 = trainingWindows(1000, 32, 64, 7, 5);
        QCOMPARE(trainingWindows(1000, 32, 64, 7, 5), w1);
        QVERIFY(trainingWindows(1000, 32, 64, 7, 6) != w1);
        QVERIFY(trainingWindows(1000, 32, 64, 8, 5) != w1);
        for (auto s : w1) QVERIFY(s >= 0 && s + 33 <= 1000);
        const auto held = heldOutWindows(33 * 10, 32, 10);
        QCOMPARE(held.size(), size_t(10));
        for (size_t i = 1; i < held.size(); ++i) QVERIFY(held[i] >= held[i - 1] + 33);  // disjoint
        QCOMPARE(held.back() + 33, std::int64_t(330));
    }

    void unigramReference() {
        std::vector<std::uint8_t> uniform;
        for (int r = 0; r < 4; ++r)
            for (int b = 0; b < 256; ++b) uniform.push_back(static_cast<std::uint8_t>(b));
        QCOMPARE(unigramBitsPerByte(uniform, uniform), 8.0);
        const std::vector<std::uint8_t> skewed(1000, 'e');
        QVERIFY(unigramBitsPerByte(skewed, std::vector<std::uint8_t>(10, 'e')) < 0.5);
    }

    void tokenClasses() {
        QCOMPARE(tokenClassNames().size(), size_t(kTokenClasses));
        QCOMPARE(tokenClassOf('q'), int(TokenClass::Letter));
        QCOMPARE(tokenClassOf('Z'), int(TokenClass::Letter));
        QCOMPARE(tokenClassOf('7'), int(TokenClass::Digit));
        QCOMPARE(tokenClassOf(' '), int(TokenClass::Space));
        QCOMPARE(tokenClassOf('\n'), int(TokenClass::Space));
        QCOMPARE(tokenClassOf(','), int(TokenClass::Punctuation));
        QCOMPARE(tokenClassOf(0xC3), int(TokenClass::Other));
    }

    void installedFortunesLoad() {
        if (!std::filesystem::is_directory(kFortunesDir)) QSKIP("the Debian package fortunes is not installed");
        auto c = loadTextCorpus(textInput("fortunes", 128));
        QVERIFY2(c.ok(), c.message().c_str());
        QVERIFY(c->train.size() > 1000000);
        const double ratio = static_cast<double>(c->test.size()) / static_cast<double>(c->train.size() + c->test.size());
        QVERIFY(ratio > 0.03 && ratio < 0.08);
        const double bpb = unigramBitsPerByte(c->train, c->test);
        QVERIFY(bpb > 3.5 && bpb < 5.5);  // English letter frequencies
    }
};

QTEST_GUILESS_MAIN(TestTextCorpus)
#include "tst_text_corpus.moc"
