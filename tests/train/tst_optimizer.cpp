// The flat Adam and AdamW (one buffer for every parameter) against LibTorch's own, step for step,
// through checkpoints both ways and through parameters that something else re-points.
#include <QtTest/QtTest>

#include <sstream>

#include "flat_adam.h"

using namespace moe::train::detail;

namespace {

torch::nn::Sequential network() {
    torch::manual_seed(3);
    return torch::nn::Sequential(torch::nn::Linear(6, 16), torch::nn::GELU(), torch::nn::Linear(16, 16), torch::nn::GELU(),
                                 torch::nn::Linear(16, 3));
}

// One step of a fixed regression batch; each step a different batch.
void backward(torch::nn::Sequential& net, int step) {
    torch::manual_seed(100 + step);
    auto x = torch::randn({32, 6});
    auto y = torch::randn({32, 3});
    torch::mse_loss(net->forward(x), y).backward();
}

template <class Opt>
void train(torch::nn::Sequential& net, Opt& opt, int from, int to) {
    for (int s = from; s < to; ++s) {
        zeroGradients(opt);
        backward(net, s);
        opt.step();
    }
}

double maxDifference(torch::nn::Sequential& a, torch::nn::Sequential& b) {
    auto pa = a->parameters(), pb = b->parameters();
    double worst = 0;
    for (size_t i = 0; i < pa.size(); ++i) worst = std::max(worst, (pa[i] - pb[i]).abs().max().item<double>());
    return worst;
}

// The model and optimizer as the trainer's checkpoints hold them.
std::string checkpoint(torch::nn::Sequential& net, torch::optim::Optimizer& opt) {
    torch::serialize::OutputArchive model, state;
    net->save(model);
    opt.save(state);
    model.write("optimizer", state);
    std::ostringstream bytes;
    model.save_to(bytes);
    return bytes.str();
}

void resume(torch::nn::Sequential& net, torch::optim::Optimizer& opt, const std::string& bytes) {
    torch::serialize::InputArchive model, state;
    std::istringstream in(bytes);
    model.load_from(in);
    net->load(model);
    model.read("optimizer", state);
    opt.load(state);
}

// LibTorch's and the flat optimizer's update of the same numbers may differ in the last bit
// (vectorised and scalar loops), never more.
constexpr double kTolerance = 1e-6;

}  // namespace

class TestOptimizer : public QObject {
    Q_OBJECT
private Q_SLOTS:
    void adamMatchesLibTorch() {
        auto a = network(), b = network();
        torch::optim::Adam ref(a->parameters(), torch::optim::AdamOptions(1e-2).weight_decay(0.01));
        FlatAdam flat(b->parameters(), torch::optim::AdamOptions(1e-2).weight_decay(0.01));
        train(a, ref, 0, 20);
        train(b, flat, 0, 20);
        auto untrained = network();
        QVERIFY(maxDifference(a, untrained) > 1e-2);  // it trained
        QVERIFY2(maxDifference(a, b) < kTolerance, qPrintable(QString::number(maxDifference(a, b))));
    }

    void adamWMatchesLibTorch() {
        auto a = network(), b = network();
        torch::optim::AdamW ref(a->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
        FlatAdamW flat(b->parameters(), torch::optim::AdamWOptions(1e-2).weight_decay(0.1));
        train(a, ref, 0, 20);
        train(b, flat, 0, 20);
        auto untrained = network();
        QVERIFY(maxDifference(a, untrained) > 1e-2);
        QVERIFY2(maxDifference(a, b) < kTolerance, qPrintable(QString::number(maxDifference(a, b))));
    }

    void parametersBecomeViewsOfOneBuffer() {
        auto net = network();
        FlatAdam flat(net->parameters(), torch::optim::AdamOptions(1e-2));
        train(net, flat, 0, 1);
        auto params = net->parameters();
        // Addresses as numbers (QCOMPARE would compare char pointers as strings).
        const auto first = reinterpret_cast<std::uintptr_t>(params.front().data_ptr());
        std::uintptr_t at = 0;
        for (const auto& p : params) {
            QCOMPARE(reinterpret_cast<std::uintptr_t>(p.data_ptr()), first + at * sizeof(float));
            at += static_cast<std::uintptr_t>(p.numel());
        }
        // One zeroing clears every gradient.
        backward(net, 1);
        zeroGradients(flat);
        for (const auto& p : params) QCOMPARE(p.grad().abs().sum().item<double>(), 0.0);
    }

    // A checkpoint's optimizer state keeps LibTorch's format: written here, read by LibTorch's
    // Adam, and the other way round, and training goes on as if never saved.
    void checkpointsReadBothWays() {
        auto whole = network();
        FlatAdam wholeOpt(whole->parameters(), torch::optim::AdamOptions(1e-2));
        train(whole, wholeOpt, 0, 12);

        auto first = network();
        FlatAdam firstOpt(first->parameters(), torch::optim::AdamOptions(1e-2));
        train(first, firstOpt, 0, 4);
        const auto saved = checkpoint(first, firstOpt);
        // LibTorch's Adam goes on from the flat optimizer's checkpoint ...
        auto second = network();
        torch::optim::Adam secondOpt(second->parameters(), torch::optim::AdamOptions(1e-2));
        resume(second, secondOpt, saved);
        train(second, secondOpt, 4, 8);
        const auto again = checkpoint(second, secondOpt);
        // ... and the flat one from LibTorch's: loading re-points every parameter, which the
        // next step notices.
        auto third = network();
        FlatAdam thirdOpt(third->parameters(), torch::optim::AdamOptions(1e-2));
        train(third, thirdOpt, 0, 2);  // flattened before the load
        resume(third, thirdOpt, again);
        train(third, thirdOpt, 8, 12);
        QVERIFY2(maxDifference(whole, third) < kTolerance, qPrintable(QString::number(maxDifference(whole, third))));
    }

    // Something else re-points a parameter between steps (an expert-parallel rank dropping an
    // expert it does not hold): the next step flattens again and updates what the module holds.
    void followsARepointedParameter() {
        auto a = network(), b = network();
        torch::optim::Adam ref(a->parameters(), torch::optim::AdamOptions(1e-2));
        FlatAdam flat(b->parameters(), torch::optim::AdamOptions(1e-2));
        train(a, ref, 0, 3);
        train(b, flat, 0, 3);
        {
            torch::NoGradGuard ng;
            auto p = b->parameters().front();
            p.set_data(p.detach().clone());
        }
        train(a, ref, 3, 6);
        train(b, flat, 3, 6);
        QVERIFY2(maxDifference(a, b) < kTolerance, qPrintable(QString::number(maxDifference(a, b))));
    }
};

QTEST_APPLESS_MAIN(TestOptimizer)
#include "tst_optimizer.moc"
