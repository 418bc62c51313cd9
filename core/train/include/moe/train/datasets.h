#pragma once
// Datasets the trainer learns from, all deterministic from a seed and torch-free (plain vectors),
// so loaders are testable and cheap to include.
//  - Fashion-MNIST: the Debian package dataset-fashion-mnist's IDX .gz files.
//  - 2-D sets for the classroom: gaussian blobs, two spirals, circles, xor.
//  - Clustered tokens: C gaussian clusters in d dimensions, one label per cluster.
//  - Text: a UTF-8 corpus as bytes (one token per byte, vocab 256) for causal language modelling.

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "moe/spec/diagnostic.h"
#include "moe/spec/model_spec.h"
#include "moe/spec/project.h"

namespace moe::train {

struct Dataset {
    int features = 0;            // values per sample
    int classes = 0;
    std::vector<float> x;        // [size x features], row-major
    std::vector<std::int64_t> y; // [size] labels in [0, classes)
    std::int64_t size() const { return static_cast<std::int64_t>(y.size()); }
};

struct DataSplit {
    Dataset train;
    Dataset test;
    bool planar = false;         // a 2-D set: routing maps can be drawn over its plane
    // Bounding box of the training set with a margin (planar sets only).
    double xMin = 0, xMax = 0, yMin = 0, yMax = 0;
    // Images: the standardised value of a black pixel, what a shifted image is filled with.
    float background = 0;
};

// Where the Debian package puts the files; overridable for tests.
inline constexpr const char* kFashionMnistDir = "/usr/share/datasets/fashion-mnist";

// Reads one IDX file pair ("train" or "t10k"): pixels scaled to [0, 1] (not standardised).
// Fails with a message naming the missing file and the Debian package to install.
moe::spec::Result<Dataset> loadFashionMnist(const std::string& part, const std::string& dir = kFashionMnistDir);

// Builds the train and test sets a project's input asks for. Synthetic sets use trainSamples and
// testSamples from the training settings; Fashion-MNIST uses all 60000 + 10000 images, with the
// pixels standardised by the training set's mean and standard deviation.
moe::spec::Result<DataSplit> makeData(const moe::spec::InputSpec& input, int trainSamples, int testSamples,
                                      unsigned seed, const std::string& fashionDir = kFashionMnistDir);

// training.augment on a batch of square images, in place: `rows` images of side x side pixels,
// row-major, one after another. Image i is image `firstSample + i` of step `step`'s batch; what
// it gets (mirrored or not, the shift each way) is drawn from (seed, step, firstSample + i)
// alone, so a data-parallel rank draws for its shard what one process draws for the same
// images. Pixels shifted in are `fill`.
void augmentImages(float* images, std::int64_t rows, int side, const moe::spec::AugmentSpec& augment, unsigned seed, std::int64_t step,
                   std::int64_t firstSample, float fill);

// One synthetic set (exposed for tests and the classroom).
Dataset makeSynthetic(const moe::spec::InputSpec& input, int samples, std::uint64_t seed);

// ---- text: byte-level language modelling ------------------------------------------------------

// The Debian package `fortunes` puts its text files here (with .dat indexes and .u8 links beside).
inline constexpr const char* kFortunesDir = "/usr/share/games/fortunes";
inline constexpr const char* kFortunesCorpus = "fortunes";
inline constexpr int kByteVocab = 256;

// A corpus split into training text and held-out text; the two never share a byte, so no training
// window can overlap a held-out window.
struct TextCorpus {
    std::string source;               // "fortunes" or the file read
    std::vector<std::uint8_t> train;
    std::vector<std::uint8_t> test;
};

// Byte tokenizer: token i is byte i of the UTF-8 text, so decode(encode(s)) == s for any string.
std::vector<std::int64_t> encodeBytes(std::string_view text);
std::string decodeBytes(const std::vector<std::int64_t>& tokens);  // ids outside [0, 255] become '?'
// Offset of the first byte that does not start or continue a valid UTF-8 sequence; -1 when valid.
std::int64_t firstInvalidUtf8(std::string_view text);
// For a terminal: invalid UTF-8 and control characters (other than newline and tab) become U+FFFD.
std::string printableUtf8(std::string_view text);

// The corpus text: "fortunes" joins the package's files (sorted; the offensive `off/` folder is
// never read); anything else is a UTF-8 file, relative paths from baseDir. Errors name the
// package to install, the file, or the byte offset of invalid UTF-8.
moe::spec::Result<std::string> readCorpusText(const std::string& corpus, const std::string& baseDir = {},
                                              const std::string& fortunesDir = kFortunesDir);
// Reads and splits a project's corpus. Fortunes: every 20th fortune is held out (all categories
// appear on both sides); a file: its last 5%. Both sides hold at least seqLen + 1 bytes.
moe::spec::Result<TextCorpus> loadTextCorpus(const moe::spec::InputSpec& input, const std::string& baseDir = {},
                                             const std::string& fortunesDir = kFortunesDir);
moe::spec::Result<TextCorpus> splitText(const std::string& text, const std::string& source, int seqLen, bool fortuneEntries);

// Start offsets of `count` random windows of seqLen + 1 bytes for optimizer step `step`: a pure
// function of (seed, step), so a resumed run draws the same windows as an uninterrupted one.
std::vector<std::int64_t> trainingWindows(std::int64_t textBytes, int seqLen, int count, std::uint64_t seed, std::int64_t step);
// `count` fixed held-out windows spread evenly over the text (disjoint when it is long enough).
std::vector<std::int64_t> heldOutWindows(std::int64_t textBytes, int seqLen, int count);
// Cross-entropy in bits per byte of `test` under the byte frequencies of `train` (add-one
// smoothing): the reference any model that looks at context should beat.
double unigramBitsPerByte(const std::vector<std::uint8_t>& train, const std::vector<std::uint8_t>& test);

// Token classes for routing-by-class on text: the rows of BlockSnapshot::classExpert.
enum class TokenClass { Letter, Digit, Space, Punctuation, Other };
inline constexpr int kTokenClasses = 5;
int tokenClassOf(int byte);  // bytes >= 0x80 (parts of multi-byte characters) are Other
const std::vector<std::string>& tokenClassNames();

}  // namespace moe::train
