// One optimizer step of the Trainer and its telemetry: the batches, the forward and backward pass,
// the routing snapshots, evaluation and publishing (see trainer_impl.h).
#include "trainer_impl.h"

namespace moe::train {

const std::vector<std::int64_t>& Trainer::Impl::epochOrder(std::int64_t epoch) {
    if (orderEpoch != epoch) {
        order.resize(static_cast<size_t>(data.train.size()));
        for (size_t i = 0; i < order.size(); ++i) order[i] = static_cast<std::int64_t>(i);
        std::mt19937_64 rng(static_cast<std::uint64_t>(project.training.seed) * 1000003ULL + static_cast<std::uint64_t>(epoch));
        std::shuffle(order.begin(), order.end(), rng);
        orderEpoch = epoch;
    }
    return order;
}

std::pair<torch::Tensor, torch::Tensor> Trainer::Impl::windows(const torch::Tensor& bytes, const std::vector<std::int64_t>& starts) const {
    const std::int64_t S = project.model.input.seqLen;
    auto idx = torch::tensor(starts, torch::kLong).unsqueeze(1) + torch::arange(S + 1, torch::kLong).unsqueeze(0);
    auto w = bytes.index({idx});
    return {w.narrow(1, 0, S).to(torch::kFloat), w.narrow(1, 1, S).reshape({-1})};
}

std::pair<std::int64_t, std::int64_t> Trainer::Impl::shard(bool whole) const {
    return dp && !whole ? detail::shardOf(batch, dp->rank(), dp->size()) : std::pair<std::int64_t, std::int64_t>{0, batch};
}

std::pair<torch::Tensor, torch::Tensor> Trainer::Impl::batchAt(std::int64_t s, bool whole) {
    const auto [b0, b1] = shard(whole);
    if (text()) {
        auto starts = trainingWindows(trainText.size(0), project.model.input.seqLen, static_cast<int>(batch), project.training.seed, s);
        starts = std::vector<std::int64_t>(starts.begin() + b0, starts.begin() + b1);
        auto [x, y] = windows(trainText, starts);
        return {x.to(device), y.to(device)};
    }
    const std::int64_t epoch = s / stepsPerEpoch, pos = s % stepsPerEpoch;
    const auto& ord = epochOrder(epoch);
    auto idx = torch::from_blob(const_cast<std::int64_t*>(ord.data() + pos * batch + b0), {b1 - b0}, torch::kLong);
    auto x = trainX.index_select(0, idx);
    // Training steps only: the final snapshot (whole) shows the images as they are.
    if (const auto& aug = project.training.augment; aug.any() && !whole) {
        x = x.contiguous();
        const int side = static_cast<int>(std::lround(std::sqrt(static_cast<double>(x.size(1)))));
        augmentImages(x.data_ptr<float>(), x.size(0), side, aug, project.training.seed, s, b0, data.background);
    }
    return {x.to(device), trainY.index_select(0, idx).to(device)};
}

std::vector<telemetry::BlockSnapshot> Trainer::Impl::blockSnapshots(const torch::Tensor& x, const torch::Tensor& y, bool withSimilarity) {
    torch::Tensor labels;
    int classes = project.model.input.numClasses();
    if (text()) {
        labels = tokenClassTable.index({x.to(torch::kCPU).to(torch::kLong).reshape({-1})});
        classes = kTokenClasses;
    } else {
        labels = y.repeat_interleave(project.model.input.tokensPerSample());
    }
    std::vector<telemetry::BlockSnapshot> out;
    for (auto& b : net->blocks())
        if (b->isMoe()) out.push_back(detail::probeBlock(*b, labels, classes, withSimilarity));
    return out;
}

void Trainer::Impl::evaluateHeldOut() {
    if (!leader()) return;  // data parallel: rank 0 evaluates and records
    if (text()) {
        auto r = detail::evaluateLm(*net, testX, testY, device);
        testLoss = r.loss;
        testAccuracy = r.accuracy;
    } else {
        testAccuracy = detail::evaluate(*net, testX, testY, device);
    }
}

std::string Trainer::Impl::runStep() {
    std::lock_guard modelLock(modelMutex);
    if (!startedClock) {
        started = std::chrono::steady_clock::now();
        startedClock = true;
    }
    const auto t0 = std::chrono::steady_clock::now();
    {
        std::lock_guard lock(mutex);
        if (!std::isnan(pendingLr)) {
            baseLr = pendingLr;
            pendingLr = std::numeric_limits<double>::quiet_NaN();
        }
        progress.learningRate = spec::learningRateAt(project.training, baseLr, step, totalSteps);
        for (auto& g : optimizer->param_groups()) g.options().set_lr(progress.learningRate);
    }
    auto [x, y] = batchAt(step);
    net->train();
    detail::RouteContext ctx;
    ctx.training = true;
    ctx.generator = generator;
    // Data parallel: this rank's mean task loss is weighted by its share of the global batch
    // (shards differ by one sample when the batch does not divide by the ranks), so the mean
    // of the ranks' gradients is the gradient of the global batch's mean loss.
    double weight = 1;
    if (dp) {
        const auto tokensPerSample = project.model.input.tokensPerSample();
        std::vector<std::int64_t> rows;
        for (int r = 0; r < dp->size(); ++r) {
            const auto [b0, b1] = detail::shardOf(batch, r, dp->size());
            rows.push_back((b1 - b0) * tokensPerSample);
        }
        dp->setRows(std::move(rows));
        ctx.group = dp.get();
        ctx.experts = ep.get();
        weight = static_cast<double>(dp->size()) * static_cast<double>(x.size(0)) / static_cast<double>(batch);
    }
    auto logits = net->forward(x, ctx);
    auto task = torch::nn::functional::cross_entropy(logits, y);
    auto routing = net->routingLoss().to(device);
    auto loss = dp ? weight * task + routing : task + routing;
    double lossV = loss.item<double>(), taskV = task.item<double>();
    int blown = -1;
    double maxLogit = detail::maxRouterLogit(*net, blown);
    double acc = logits.argmax(-1).eq(y).to(torch::kDouble).mean().item<double>();
    if (dp) {
        // The global batch's figures, and whether any rank was asked to stop, on every rank.
        bool stopAsked;
        {
            std::lock_guard lock(mutex);
            stopAsked = stopRequested;
        }
        const double correct = logits.argmax(-1).eq(y).sum().item<double>();
        auto sums = torch::tensor({weight * taskV + routing.item<double>(), weight * taskV, correct, static_cast<double>(y.size(0)),
                                   stopAsked ? 1.0 : 0.0}, torch::kDouble);
        dp->sum(sums);
        auto most = torch::tensor({std::isfinite(maxLogit) ? maxLogit : std::numeric_limits<double>::max()}, torch::kDouble);
        dp->max(most);
        const auto* v = sums.data_ptr<double>();
        const double n = static_cast<double>(dp->size());
        lossV = v[0] / n;
        taskV = v[1] / n;
        acc = v[3] > 0 ? v[2] / v[3] : 0.0;
        stopAgreed = v[4] > 0;
        maxLogit = most.item<double>();
    }
    if (!std::isfinite(lossV) || !std::isfinite(maxLogit) || maxLogit > detail::kRouterLogitLimit) {
        std::string where = detail::describeBlowUp(*net, blown);
        const std::string what = !std::isfinite(lossV) ? "the loss became " + std::string(std::isnan(lossV) ? "NaN" : "infinite")
                                                       : "training diverged";
        publishDivergence(blown, what + "; " + where);
        return "step " + std::to_string(step + 1) + ": " + what + "; " + where +
               ". Try a lower learning rate, a router z-loss (losses.z) or a higher softmax temperature.";
    }
    detail::zeroGradients(*optimizer);
    if (dp) dp->beginBackward();
    loss.backward();
    if (dp) dp->finishGradients();
    // Expert parallel in several groups: the ranks holding the same experts add up their
    // gradients (the mean over every rank's loss, as the reducer divides by the ranks).
    if (ep) ep->sumOverReplicas(heldExperts);
    const std::int64_t done = step + 1;
    const bool epochEnd = done % stepsPerEpoch == 0;
    const bool snapshot = done == 1 || done % project.training.telemetryInterval == 0 || epochEnd || done == totalSteps;
    // Routing statistics sum every batch since the last snapshot, so a snapshot's loads rest
    // on telemetry_interval batches of tokens rather than one.
    // Expert parallel: the similarity probe runs every expert on rank 0.
    if (snapshot && ep) gatherExperts();
    {
        auto batch = blockSnapshots(x, y, snapshot && leader());
        if (intervalBlocks.size() != batch.size()) intervalBlocks.assign(batch.size(), {});
        for (size_t i = 0; i < batch.size(); ++i) telemetry::accumulate(intervalBlocks[i], batch[i]);
    }
    std::vector<telemetry::BlockSnapshot> blocks;
    if (snapshot) blocks = std::exchange(intervalBlocks, {});
    optimizer->step();
    net->afterOptimizerStep();
    // ... and the evaluation, routing maps and probes after the step.
    if (snapshot && ep) gatherExperts();
    step = done;
    const double secs = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
    std::vector<telemetry::RankTime> rankTimes;
    std::vector<telemetry::LayerTime> layerTimes;
    if (dp) {
        auto [reduce, exchange] = dp->takeWaitSeconds();
        if (ep) reduce += ep->takeReplicaSeconds();
        const double alltoall = ep ? ep->takeStepSeconds() : 0.0;
        rankInterval.steps += 1;
        rankInterval.computeSeconds += std::max(0.0, secs - reduce - exchange - alltoall);
        rankInterval.gradReduceSeconds += reduce;
        rankInterval.exchangeSeconds += exchange;
        if (snapshot) rankTimes = mergeRanks(blocks, layerTimes);
    }
    stepSecondsEma = stepSecondsEma == 0 ? secs : 0.9 * stepSecondsEma + 0.1 * secs;
    lossEma = std::isnan(lossEma) ? lossV : 0.9 * lossEma + 0.1 * lossV;
    accEma = done == 1 ? acc : 0.9 * accEma + 0.1 * acc;
    if (snapshot) {
        // Text evaluates its few fixed held-out windows at every snapshot.
        const bool evaluated = text() || epochEnd || done == totalSteps || testY.size(0) <= kSmallTestSet;
        if (evaluated) evaluateHeldOut();
        auto s = std::make_shared<RoutingSnapshot>();
        s->testLoss = evaluated ? testLoss : -1;
        s->loss = lossV;
        s->taskLoss = taskV;
        s->accuracy = acc;
        s->blocks = std::move(blocks);
        s->rankTimes = std::move(rankTimes);
        s->layerTimes = std::move(layerTimes);
        publish(std::move(s), (epochEnd || done == totalSteps || testY.size(0) <= kSmallTestSet) ? testAccuracy : -1);
    }
    std::lock_guard lock(mutex);
    progress.step = step;
    progress.epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
    progress.loss = lossEma;
    progress.accuracy = accEma;
    progress.testAccuracy = testAccuracy;
    progress.testLoss = testLoss;
    progress.tokensPerSecond = stepSecondsEma > 0 ? static_cast<double>(tokensPerStep) / stepSecondsEma : 0;
    progress.etaSeconds = stepSecondsEma * static_cast<double>(totalSteps - step);
    return {};
}

void Trainer::Impl::publish(std::shared_ptr<RoutingSnapshot> s, double testAcc) {
    s->step = step;
    s->epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
    s->testAccuracy = testAcc;
    s->learningRate = optimizer->param_groups()[0].options().get_lr();
    s->tokensPerSecond = stepSecondsEma > 0 ? static_cast<double>(tokensPerStep) / stepSecondsEma : 0;
    s->wallSeconds = startedClock ? std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count() : 0;
    if (!leader()) {
        // Data parallel: rank 0 records the run; the others only keep their latest figures.
        lastSnapshotStep = step;
        std::lock_guard lock(mutex);
        latest = std::move(s);
        return;
    }
    if (data.planar && !s->blocks.empty()) {
        s->mapXMin = data.xMin;
        s->mapXMax = data.xMax;
        s->mapYMin = data.yMin;
        s->mapYMax = data.yMax;
        s->mapPoints = mapPoints;
        auto maps = detail::routingMaps(*net, data.xMin, data.xMax, data.yMin, data.yMax, kMapResolution, device);
        for (size_t i = 0; i < maps.size() && i < s->blocks.size(); ++i) {
            s->blocks[i].mapResolution = kMapResolution;
            s->blocks[i].routingMap = std::move(maps[i]);
        }
    }
    s->unigramBitsPerByte = unigramBpb;
    if (text()) s->classNames = tokenClassNames();
    if (probeX.defined() && !s->blocks.empty()) {
        s->probeTokens = probeTokens;
        s->probeSamples = probeSamples;
        auto routes = detail::probeRouting(*net, probeX, static_cast<std::int64_t>(probeTokens.size()), device);
        for (size_t i = 0; i < routes.size() && i < s->blocks.size(); ++i) {
            s->blocks[i].probeK = routes[i].k;
            s->blocks[i].probeExperts = std::move(routes[i].experts);
            s->blocks[i].probeGates = std::move(routes[i].gates);
        }
    }
    auto alerts = collapseMonitor.update(*s);
    s->alerts.insert(s->alerts.end(), alerts.begin(), alerts.end());
    lastSnapshotStep = step;
    SnapshotPtr p = std::move(s);
    std::function<void(SnapshotPtr)> cb;
    {
        std::lock_guard lock(mutex);
        latest = p;
        cb = callback;
    }
    if (writer) writer->append(p);
    if (cb) cb(p);
}

void Trainer::Impl::publishFinal() {
    auto [x, y] = batchAt(0, /*whole=*/true);
    torch::NoGradGuard ng;
    net->eval();
    detail::RouteContext ctx;
    auto logits = net->forward(x, ctx);
    auto task = torch::nn::functional::cross_entropy(logits, y);
    auto s = std::make_shared<RoutingSnapshot>();
    s->taskLoss = task.item<double>();
    s->loss = (task + net->routingLoss().to(device)).item<double>();
    s->accuracy = logits.argmax(-1).eq(y).to(torch::kDouble).mean().item<double>();
    s->blocks = blockSnapshots(x, y);
    s->testLoss = testLoss;
    net->train();
    // No backward ran for this forward: keep the router gradient norms last measured.
    SnapshotPtr prev;
    {
        std::lock_guard lock(mutex);
        prev = latest;
    }
    for (size_t i = 0; i < s->blocks.size(); ++i)
        s->blocks[i].routerGradNorm = prev && i < prev->blocks.size() ? prev->blocks[i].routerGradNorm : s->blocks[i].routerGradNorm;
    publish(std::move(s), testAccuracy);
}

void Trainer::Impl::publishDivergence(int block, const std::string& what) {
    auto s = std::make_shared<RoutingSnapshot>();
    s->step = step + 1;
    s->loss = std::numeric_limits<double>::quiet_NaN();
    telemetry::Alert a;
    a.step = step + 1;
    a.block = block;
    a.kind = telemetry::AlertKind::Divergence;
    a.severity = telemetry::Severity::Critical;
    a.value = step + 1;
    a.title = "training diverged at step " + std::to_string(step + 1);
    a.explanation = "At step " + std::to_string(step + 1) + " " + what +
                    ". Once a value is infinite or NaN it spreads through every later step, so training stopped here.";
    a.fix = "Lower the learning rate, add a router z-loss (losses.z, e.g. 0.001) to keep router logits small, or raise the softmax "
            "temperature; then start again from the last checkpoint.";
    s->alerts.push_back(std::move(a));
    s->epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
    s->learningRate = optimizer->param_groups()[0].options().get_lr();
    SnapshotPtr p = std::move(s);
    {
        std::lock_guard lock(mutex);
        latest = p;
    }
    if (writer) writer->append(p);
}

}  // namespace moe::train
