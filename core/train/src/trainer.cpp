// The Trainer: one thread per run that owns the model, the optimizer and the data order. Callers
// only set intents (start, pause, step, stop, learning rate) under a mutex; the thread acts on
// them between optimizer steps and publishes immutable snapshots.
//
// This file: set-up, the trainer thread, checkpoints and the public API; one optimizer step and
// its telemetry are in trainer_step.cpp, the ranks of a distributed run in trainer_ranks.cpp, the
// state they share in trainer_impl.h.

#include "trainer_impl.h"

namespace moe::train {


std::string_view toString(TrainerState s) {
    switch (s) {
        case TrainerState::Idle: return "idle";
        case TrainerState::Running: return "running";
        case TrainerState::Paused: return "paused";
        case TrainerState::Finished: return "finished";
        case TrainerState::Stopped: return "stopped";
        case TrainerState::Failed: return "failed";
    }
    return "?";
}

namespace {

// Background training: the trainer thread, and the worker threads it starts, yield the cores to
// interactive threads (a desktop UI drawing its frames) whenever both want them.
void lowerPriority() {
#ifdef __linux__
    if (setpriority(PRIO_PROCESS, static_cast<id_t>(gettid()), 10) != 0)
        spdlog::debug("could not lower the trainer thread's priority");
#endif
}

// Model construction draws from LibTorch's global generator; one lock makes seeding and building
// atomic when several trainers start at once.
std::mutex& initMutex() {
    static std::mutex m;
    return m;
}


torch::Tensor toTensor(const Dataset& d) {
    return torch::from_blob(const_cast<float*>(d.x.data()), {d.size(), d.features}, torch::kFloat).clone();
}

torch::Tensor labelsOf(const Dataset& d) {
    return torch::from_blob(const_cast<std::int64_t*>(d.y.data()), {d.size()}, torch::kLong).clone();
}

torch::Tensor bytesTensor(const std::vector<std::uint8_t>& b) {
    return torch::from_blob(const_cast<std::uint8_t*>(b.data()), {static_cast<std::int64_t>(b.size())}, torch::kUInt8).to(torch::kLong);
}

// All hardware threads, except for models whose whole step is too small to split: their ops run
// in microseconds, and handing each one to a second thread costs more than it saves (measured on
// the 2-D classroom project: 10x slower with 2 threads than with 1 on a busy 2-core machine).
constexpr double kParallelStepFlops = 20e6;  // forward FLOPs per step

// Marks a checkpoint written by an expert parallel run (the number of ranks).
constexpr const char* kExpertParallelKey = "trainer_expert_parallel";

// Data parallel ranks on one machine share its cores.
int defaultThreads(const moe::spec::Project& p, int localRanks) {
    const int hw = std::max(1, static_cast<int>(std::max(1u, std::thread::hardware_concurrency())) / std::max(1, localRanks));
    const double tokens = static_cast<double>(p.training.batch) * p.model.input.tokensPerSample();
    const double flops = tokens * moe::spec::computeFigures(p.model).flopsPerToken;
    return flops < kParallelStepFlops ? 1 : hw;
}


}  // namespace

std::string Trainer::Impl::build() {
    const auto& t = project.training;
    const auto& m = project.model;
    if (text()) {
        // An epoch is as many windows as it takes to cover the training text once.
        batch = t.batch;
        const auto perStep = batch * static_cast<std::int64_t>(m.input.seqLen);
        stepsPerEpoch = std::max<std::int64_t>(1, static_cast<std::int64_t>(corpus.train.size()) / perStep);
        trainText = bytesTensor(corpus.train);
        testText = bytesTensor(corpus.test);
        std::vector<std::int64_t> classes(kByteVocab);
        for (int b = 0; b < kByteVocab; ++b) classes[static_cast<size_t>(b)] = tokenClassOf(b);
        tokenClassTable = torch::tensor(classes, torch::kLong);
        unigramBpb = unigramBitsPerByte(corpus.train, corpus.test);
        auto held = heldOutWindows(testText.size(0), m.input.seqLen, kHeldOutWindows);
        std::tie(testX, testY) = windows(testText, held);
        // The probe: the start of the held-out text, as one sequence of the trained length.
        probeX = testX.narrow(0, 0, 1);
        const auto n = std::min<std::int64_t>(kProbeTokens, m.input.seqLen);
        for (std::int64_t i = 0; i < n; ++i) probeTokens.push_back(static_cast<int>(corpus.test[static_cast<size_t>(i)]));
    } else {
        batch = std::min<std::int64_t>(t.batch, data.train.size());
        stepsPerEpoch = std::max<std::int64_t>(1, data.train.size() / batch);
        trainX = toTensor(data.train);
        trainY = labelsOf(data.train);
        testX = toTensor(data.test);
        testY = labelsOf(data.test);
        // Images cut into patches: a few whole test images, each patch labelled with its image's class.
        const auto P = m.input.tokensPerSample();
        if (P > 1 && testX.size(0) > 0) {
            const auto n = std::min<std::int64_t>(kProbeImages, testX.size(0));
            probeX = testX.narrow(0, 0, n);
            probeSamples = static_cast<int>(n);
            for (std::int64_t i = 0; i < n; ++i)
                for (std::int64_t p = 0; p < P; ++p) probeTokens.push_back(static_cast<int>(data.test.y[static_cast<size_t>(i)]));
        }
    }
    totalSteps = t.steps ? *t.steps : static_cast<std::int64_t>(*t.epochs) * stepsPerEpoch;
    tokensPerStep = batch * m.input.tokensPerSample();
    if (auto e = detail::resolveDevice(t.device, device); !e.empty()) return e;
    if (options.ranks)
        if (auto e = joinRanks(); !e.empty()) return e;
    {
        std::lock_guard lock(initMutex());
        torch::manual_seed(t.seed);
        net = MoeNet(m);
    }
    net->to(device);
    generator = at::detail::createCPUGenerator(t.seed + 0x9e37ULL);
    switch (t.optimizer) {
        case moe::spec::OptimizerKind::Sgd:
            optimizer = std::make_unique<torch::optim::SGD>(
                net->parameters(), torch::optim::SGDOptions(t.learningRate).momentum(t.momentum).weight_decay(t.weightDecay));
            break;
        case moe::spec::OptimizerKind::Adam:
            optimizer = std::make_unique<detail::FlatAdam>(net->parameters(),
                                                             torch::optim::AdamOptions(t.learningRate).weight_decay(t.weightDecay));
            break;
        case moe::spec::OptimizerKind::AdamW:
            optimizer = std::make_unique<detail::FlatAdamW>(net->parameters(),
                                                              torch::optim::AdamWOptions(t.learningRate).weight_decay(t.weightDecay));
            break;
    }
    if (data.planar) {
        const auto n = std::min<std::int64_t>(kMapPoints, data.train.size());
        for (std::int64_t i = 0; i < n; ++i) {
            mapPoints.push_back(data.train.x[static_cast<size_t>(2 * i)]);
            mapPoints.push_back(data.train.x[static_cast<size_t>(2 * i + 1)]);
            mapPoints.push_back(static_cast<float>(data.train.y[static_cast<size_t>(i)]));
        }
    }
    if (!options.resumeFrom.empty())
        if (auto e = loadCheckpoint(options.resumeFrom); !e.empty()) return e;
    if (dp) {
        // The same seed built the same model on every rank; rank 0's copy makes sure of it.
        try {
            auto state = net->parameters();
            for (const auto& b : net->buffers()) state.push_back(b);
            dp->broadcastFromRankZero(state);
            if (ep) {
                holdExperts();
            } else {
                dp->attach(net->parameters());
            }
        } catch (const std::exception& e) {
            return detail::rankFailure(*options.ranks, "taking rank 0's model", e);
        }
    }
    progress.totalSteps = totalSteps;
    progress.unigramBitsPerByte = unigramBpb;
    progress.threads = threads;
    progress.device = device.str();
    progress.step = step;
    baseLr = t.learningRate;
    progress.learningRate = spec::learningRateAt(t, baseLr, step, totalSteps);
    progress.epoch = static_cast<double>(step) / static_cast<double>(stepsPerEpoch);
    if (!options.runStorePath.empty() && leader()) {
        telemetry::RunInfo info;
        info.projectJson = moe::spec::serializeProject(project);
        info.checkpoint = options.checkpointPath;
        auto w = telemetry::RunWriter::create(options.runStorePath, info);
        if (!w) return w.message();
        writer = std::move(w.value());
    }
    return {};
}

void Trainer::Impl::ensureThread() {
    if (!thread.joinable() && !finalized) thread = std::thread([this] { loop(); });
}

void Trainer::Impl::loop() {
    detail::setCpuThreads(threads);
    if (options.background) lowerPriority();
    while (true) {
        {
            std::unique_lock lock(mutex);
            while (true) {
                if (stopRequested) break;
                // A pause takes effect between steps, so wait() returns only once the model is quiet.
                if (state == TrainerState::Running && pauseRequested) {
                    pauseRequested = false;
                    state = TrainerState::Paused;
                    progress.state = state;
                    idle.notify_all();
                }
                if (state == TrainerState::Running) break;
                wake.wait(lock);
            }
            // Data parallel ranks stop together: a stop request rides on the next step's
            // exchange (runStep), so no rank waits for one that is gone.
            if (stopRequested && !dp) break;
        }
        if (step >= totalSteps) {
            finish(TrainerState::Finished, {});
            return;
        }
        std::string error;
        try {
            error = runStep();
        } catch (const c10::Error& e) {
            error = "step " + std::to_string(step + 1) + ": LibTorch error: " + e.what_without_backtrace();
        } catch (const std::exception& e) {
            error = "step " + std::to_string(step + 1) + ": " + e.what();
        }
        // A run store that can no longer be written (disk full, file gone read-only) stops the
        // run: training on without a record would lose what the user runs it for.
        if (error.empty() && writer) error = writer->error();
        if (!error.empty()) {
            finish(TrainerState::Failed, error);
            return;
        }
        if (stopAgreed) break;
        std::lock_guard lock(mutex);
        if (budget > 0 && --budget == 0 && step < totalSteps && state == TrainerState::Running) {
            state = TrainerState::Paused;
            progress.state = state;
            idle.notify_all();
        }
    }
    finish(TrainerState::Stopped, "stopped by request");
}

void Trainer::Impl::finish(TrainerState final, std::string message) {
    try {
        // Expert parallel: rank 0 needs the other ranks' experts for the last evaluation and
        // the checkpoint (the ranks agree on both conditions: they ran the same steps).
        if (ep && final != TrainerState::Failed && step > 0 && (lastSnapshotStep != step || !options.checkpointPath.empty())) {
            std::lock_guard lock(modelMutex);
            gatherExperts();
        }
        if (final != TrainerState::Failed && step > 0 && lastSnapshotStep != step && leader()) {
            std::lock_guard lock(modelMutex);
            evaluateHeldOut();
            publishFinal();
        }
    } catch (const c10::Error& e) {
        spdlog::error("final evaluation failed: {}", e.what_without_backtrace());
    } catch (const std::exception& e) {
        spdlog::error("final evaluation failed: {}", e.what());
    }
    if (writer) {
        writer->flush();
        if (auto e = writer->error(); !e.empty() && final != TrainerState::Failed) {
            final = TrainerState::Failed;
            message = e;
        }
    }
    if (!options.checkpointPath.empty() && final != TrainerState::Failed && step > 0 && leader()) {
        std::lock_guard lock(modelMutex);
        if (auto e = saveCheckpointLocked(options.checkpointPath); !e.empty()) {
            spdlog::error("{}", e);
            final = TrainerState::Failed;
            message = e;
        }
    }
    if (writer) writer->finish(std::string(toString(final)), message);
    std::lock_guard lock(mutex);
    state = final;
    finalized = true;
    progress.state = final;
    progress.message = message;
    progress.etaSeconds = 0;
    idle.notify_all();
}

std::string Trainer::Impl::saveCheckpointLocked(const std::string& path) {
    try {
        torch::serialize::OutputArchive a;
        net->save(a);
        torch::serialize::OutputArchive opt;
        optimizer->save(opt);
        a.write("optimizer", opt);
        a.write("trainer_step", torch::tensor(step, torch::kLong));
        a.write("trainer_generator", generator.get_state());
        // Expert parallel: the weights are whole (rank 0 gathered them) but the optimizer state
        // of the experts other ranks held is not here, so the file cannot be resumed.
        if (ep) a.write(kExpertParallelKey, torch::tensor(ep->size(), torch::kLong));
        a.write(detail::kCheckpointSpecKey, c10::IValue(detail::checkpointModelJson(project)));
        // Serialised in memory, then saved atomically by our own writer: LibTorch's file writer
        // throws again from its destructor when a write fails (disk full), which aborts the
        // process; this way a failed save is an error message and the old file stays intact.
        std::ostringstream bytes;
        a.save_to(bytes);
        if (!bytes) return "cannot write the checkpoint " + path + ": serialising the model failed";
        if (auto e = moe::spec::writeFileAtomic(path, bytes.str()); !e.empty()) return "cannot write the checkpoint " + path + ": " + e;
        return {};
    } catch (const c10::Error& e) {
        return "cannot write the checkpoint " + path + ": " + e.what_without_backtrace();
    } catch (const std::exception& e) {
        return "cannot write the checkpoint " + path + ": " + e.what();
    }
}

std::string Trainer::Impl::loadCheckpoint(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return "no checkpoint at " + path;
    try {
        torch::serialize::InputArchive a;
        a.load_from(path);
        c10::IValue spec;
        if (!a.try_read(detail::kCheckpointSpecKey, spec) || !spec.isString())
            return path + " is not a MoE Studio checkpoint (it has no model spec)";
        if (spec.toStringRef() != detail::checkpointModelJson(project))
            return "the checkpoint " + path + " was written for a different model; resume it with the project it was trained with";
        torch::Tensor ranks;
        if (a.try_read(kExpertParallelKey, ranks))
            return "the checkpoint " + path + " was written by an expert parallel run over " + std::to_string(ranks.item<std::int64_t>()) +
                   " ranks: it holds the whole model's weights (for moe generate and the studio) but not the optimizer state of the experts "
                   "the other ranks trained, so it cannot be resumed";
        net->load(a);
        torch::serialize::InputArchive opt;
        a.read("optimizer", opt);
        optimizer->load(opt);
        torch::Tensor st, gen;
        a.read("trainer_step", st);
        a.read("trainer_generator", gen);
        step = st.item<std::int64_t>();
        generator.set_state(gen);
        return {};
    } catch (const c10::Error& e) {
        return "cannot read the checkpoint " + path + ": " + e.what_without_backtrace();
    }
}

// ---- [SECTION] public API ----------------------------------------------------------------------

moe::spec::Result<std::unique_ptr<Trainer>> Trainer::create(const moe::spec::Project& source, TrainerOptions options) {
    if (auto errs = moe::spec::validateProject(source); !errs.empty()) return errs;
    // What trains is the model's twin when the project sets one (its model keeps the real size).
    const moe::spec::Project project = moe::spec::trainingProject(source);
    try {
        const int threads = options.threads > 0 ? options.threads : defaultThreads(project, options.ranks ? options.ranks->localWorldSize : 1);
        // The trainer's thread trains on `threads` threads; this one builds the run on one.
        detail::setBlasThreads(1);
        detail::SerialScope serial;
        spdlog::info("training with {} CPU thread(s)", threads);
        auto impl = std::make_unique<Impl>();
        if (project.model.input.isText()) {
            auto corpus = loadTextCorpus(project.model.input, options.projectDir);
            if (!corpus) return corpus.errors();
            impl->corpus = std::move(corpus.value());
        } else {
            auto data = makeData(project.model.input, project.training.trainSamples, project.training.testSamples, project.training.seed);
            if (!data) return data.errors();
            impl->data = std::move(data.value());
        }
        impl->project = project;
        impl->progress.twin = moe::spec::describeTwin(source);
        impl->options = std::move(options);
        impl->threads = threads;
        if (auto e = impl->build(); !e.empty()) return Diagnostics{{"", e}};
        return std::unique_ptr<Trainer>(new Trainer(std::move(impl)));
    } catch (const c10::Error& e) {
        return Diagnostics{{"", std::string("cannot build the model: ") + e.what_without_backtrace()}};
    } catch (const std::exception& e) {
        return Diagnostics{{"", std::string("cannot build the model: ") + e.what()}};
    }
}

bool isCheckpointFile(const std::string& path) {
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) return false;
    // A LibTorch archive is a zip file: check its signature before handing the file to LibTorch.
    char magic[4] = {};
    if (std::FILE* f = std::fopen(path.c_str(), "rb")) {
        const size_t n = std::fread(magic, 1, sizeof magic, f);
        std::fclose(f);
        if (n != sizeof magic || std::memcmp(magic, "PK\x03\x04", sizeof magic) != 0) return false;
    } else {
        return false;
    }
    try {
        torch::serialize::InputArchive a;
        a.load_from(path);
        c10::IValue spec;
        return a.try_read(detail::kCheckpointSpecKey, spec) && spec.isString();
    } catch (const std::exception&) {
        return false;
    }
}

Trainer::Trainer(std::unique_ptr<Impl> impl) : m_impl(std::move(impl)) {}

Trainer::~Trainer() {
    stop();
    if (m_impl->thread.joinable()) m_impl->thread.join();
}

void Trainer::start() {
    auto& d = *m_impl;
    std::lock_guard lock(d.mutex);
    if (d.state != TrainerState::Idle && d.state != TrainerState::Paused) return;
    d.budget = -1;
    d.pauseRequested = false;
    d.state = TrainerState::Running;
    d.progress.state = d.state;
    d.ensureThread();
    d.wake.notify_all();
}

void Trainer::pause() {
    auto& d = *m_impl;
    std::lock_guard lock(d.mutex);
    if (d.state != TrainerState::Running) return;
    d.pauseRequested = true;
    d.wake.notify_all();
}

void Trainer::resume() {
    auto& d = *m_impl;
    {
        std::lock_guard lock(d.mutex);
        if (d.state == TrainerState::Running) {
            d.pauseRequested = false;  // a pause that has not taken effect yet is withdrawn
            return;
        }
        if (d.state != TrainerState::Paused) return;
    }
    start();
}

void Trainer::step(int n) {
    auto& d = *m_impl;
    if (n <= 0) return;
    std::lock_guard lock(d.mutex);
    if (d.state != TrainerState::Idle && d.state != TrainerState::Paused) return;
    d.budget = n;
    d.pauseRequested = false;
    d.state = TrainerState::Running;
    d.progress.state = d.state;
    d.ensureThread();
    d.wake.notify_all();
}

void Trainer::stop() {
    auto& d = *m_impl;
    {
        std::lock_guard lock(d.mutex);
        if (d.finalized || d.stopRequested) return;
        d.stopRequested = true;
        d.wake.notify_all();
        if (d.thread.joinable()) return;
        // No thread yet: finish here. Stopped state keeps a racing start() from spawning one.
        d.state = TrainerState::Stopped;
    }
    d.finish(TrainerState::Stopped, "stopped by request");
}

void Trainer::setLearningRate(double lr) {
    if (!(lr > 0) || !std::isfinite(lr)) {
        spdlog::warn("ignoring learning rate {}: it must be a positive number", lr);
        return;
    }
    std::lock_guard lock(m_impl->mutex);
    m_impl->pendingLr = lr;
}

void Trainer::wait() {
    auto& d = *m_impl;
    std::unique_lock lock(d.mutex);
    d.idle.wait(lock, [&] { return d.state != TrainerState::Running; });
}

Progress Trainer::progress() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->progress;
}

telemetry::SnapshotPtr Trainer::latest() const {
    std::lock_guard lock(m_impl->mutex);
    return m_impl->latest;
}

void Trainer::setSnapshotCallback(std::function<void(telemetry::SnapshotPtr)> cb) {
    std::lock_guard lock(m_impl->mutex);
    m_impl->callback = std::move(cb);
}

std::string Trainer::saveCheckpoint(const std::string& path) {
    // Waits for the step in flight (if any) to end; the trainer thread holds modelMutex per step.
    std::lock_guard lock(m_impl->modelMutex);
    return m_impl->saveCheckpointLocked(path);
}

const moe::spec::Project& Trainer::project() const { return m_impl->project; }

}  // namespace moe::train
