// Histogram, dispatch layout and capacity on the GPU.
//
// Positions within an expert must be in token order (the layout is part of the specification),
// so they come from a block-wide scan: block e walks all assignments in chunks of blockDim and
// numbers those of expert e with a ballot prefix count. That reads the index array E times,
// which is cheap for the tens to hundreds of experts of an MoE layer. Dropping by gate (the probs
// policy) ranks with two stable radix sorts, O(n) whatever the load of an expert.
#include <algorithm>

#include <cub/cub.cuh>

#include "cuda_common.cuh"
#include "dispatch.cuh"

namespace moe::kernels::cuda {
namespace {

constexpr int kScanBlock = 256;  // a multiple of 32, at most 32 warps

__device__ inline bool validExpert(int64_t e, int64_t experts) { return e >= 0 && e < experts; }

__global__ void histogramKernel(const int64_t* idx, int64_t n, int64_t experts, unsigned long long* counts) {
    MOE_GRID_STRIDE(i, n) {
        const int64_t e = idx[i];
        if (validExpert(e, experts)) atomicAdd(counts + e, 1ull);
    }
}

__global__ void copyCountsKernel(const unsigned long long* in, int64_t* out, int64_t experts) {
    MOE_GRID_STRIDE(e, experts) out[e] = static_cast<int64_t>(in[e]);
}

// pos[i] = rank of i among assignments of its expert (token order) for which keep[i] != 0
// (keep == nullptr: all); count[e] = total. pos of other assignments is left untouched.
__global__ void positionsKernel(const int64_t* idx, const uint8_t* keep, int64_t n, int64_t experts, int64_t* pos,
                                int64_t* count) {
    __shared__ int warpTotals[kScanBlock / 32];
    const int64_t e = blockIdx.x;
    const int lane = threadIdx.x & 31, warp = threadIdx.x >> 5, warps = blockDim.x >> 5;
    int64_t running = 0;
    for (int64_t base = 0; base < n; base += blockDim.x) {
        const int64_t i = base + threadIdx.x;
        const bool flag = i < n && idx[i] == e && (keep == nullptr || keep[i]);
        const unsigned ballot = __ballot_sync(0xffffffffu, flag);
        const int inWarp = __popc(ballot & ((1u << lane) - 1u));
        if (lane == 0) warpTotals[warp] = __popc(ballot);
        __syncthreads();
        int before = 0, total = 0;
        for (int w = 0; w < warps; ++w) {
            before += w < warp ? warpTotals[w] : 0;
            total += warpTotals[w];
        }
        if (flag) pos[i] = running + before + inWarp;
        running += total;
        __syncthreads();  // warpTotals is rewritten by the next chunk
    }
    (void)experts;
    if (threadIdx.x == 0) count[e] = running;
}

// offsets[0] = 0, offsets[e+1] = offsets[e] + count[e]. E is small: one thread is enough.
__global__ void exclusiveScanKernel(const int64_t* count, int64_t experts, int64_t* offsets) {
    if (blockIdx.x != 0 || threadIdx.x != 0) return;
    int64_t acc = 0;
    offsets[0] = 0;
    for (int64_t e = 0; e < experts; ++e) {
        acc += count[e];
        offsets[e + 1] = acc;
    }
}

__global__ void finishDispatchKernel(BuildDispatchArgs a, const int64_t* pos) {
    MOE_GRID_STRIDE(i, a.tokens * a.k) {
        const int64_t e = a.expertIdx[i];
        if (!validExpert(e, a.experts)) {
            a.slotOf[i] = -1;
            continue;
        }
        const int64_t r = a.offsets[e] + pos[i];
        a.slotOf[i] = r;
        a.rowToken[r] = i / a.k;
        a.rowAssign[r] = i;
    }
}

__device__ inline float dropKey(float g) { return g != g ? -__int_as_float(0x7f800000) : g; }

// Probs policy: the rank of each assignment among its expert's by (gate desc, index asc), from
// two stable radix sorts (gate, then expert) instead of comparing every pair of an expert's
// assignments. keep[i] = rank < capacity.
//
// A float's bits made unsigned and ordered, then inverted: ascending keys = descending gates.
// -0 and +0 map apart but compare equal as floats; the reference ranks them by index, so both
// become +0 first. NaN gates drop first (dropKey makes them -inf).
__device__ inline uint32_t descendingKey(float g) {
    g = dropKey(g);
    if (g == 0.0f) g = 0.0f;
    const uint32_t u = __float_as_uint(g);
    const uint32_t ascending = (u & 0x80000000u) ? ~u : (u | 0x80000000u);
    return ~ascending;
}

__global__ void gateKeysKernel(AssignSlotsArgs a, uint32_t* keys, int64_t* order) {
    MOE_GRID_STRIDE(i, a.tokens * a.k) {
        keys[i] = descendingKey(a.gates[i]);
        order[i] = i;
    }
}

// Expert of each (gate-sorted) assignment; invalid experts sort after all real ones.
__global__ void expertKeysKernel(AssignSlotsArgs a, const int64_t* order, uint32_t* keys) {
    MOE_GRID_STRIDE(j, a.tokens * a.k) {
        const int64_t e = a.expertIdx[order[j]];
        keys[j] = validExpert(e, a.experts) ? static_cast<uint32_t>(e) : static_cast<uint32_t>(a.experts);
    }
}

__global__ void probsKeepKernel(AssignSlotsArgs a, const uint32_t* experts, const int64_t* order, const int64_t* offsets, uint8_t* keep) {
    MOE_GRID_STRIDE(j, a.tokens * a.k) {
        const int64_t i = order[j];
        const uint32_t e = experts[j];
        keep[i] = e < static_cast<uint32_t>(a.experts) && j - offsets[e] < a.capacity ? 1 : 0;
    }
}

// Bits needed to hold 0..v.
int bitsFor(int64_t v) {
    int b = 1;
    while (b < 32 && (int64_t{1} << b) <= v) ++b;
    return b;
}

Status probsKeep(const AssignSlotsArgs& a, uint8_t* keep, cudaStream_t s) {
    const int64_t n = a.tokens * a.k;
    if (n <= 0) return Status::ok();
    if (n > 0x7fffffff) return Status::invalid("CUDA assign slots: at most 2^31 assignments");
    const int items = static_cast<int>(n);
    Scratch scratch(s);
    uint32_t *keyA = nullptr, *keyB = nullptr;
    int64_t *valA = nullptr, *valB = nullptr, *offsets = nullptr;
    unsigned long long* counts = nullptr;
    if (auto st = scratch.alloc(&keyA, n); !st) return st;
    if (auto st = scratch.alloc(&keyB, n); !st) return st;
    if (auto st = scratch.alloc(&valA, n); !st) return st;
    if (auto st = scratch.alloc(&valB, n); !st) return st;
    if (auto st = scratch.alloc(&offsets, a.experts + 1); !st) return st;
    if (auto st = scratch.alloc(&counts, a.experts); !st) return st;
    // Temporary storage: the larger of the two sorts' needs.
    size_t tempGate = 0, tempExpert = 0;
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tempGate, keyA, keyB, valA, valB, items, 0, 32, s));
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(nullptr, tempExpert, keyA, keyB, valA, valB, items, 0, bitsFor(a.experts), s));
    uint8_t* temp = nullptr;
    if (auto st = scratch.alloc(&temp, static_cast<int64_t>(std::max(tempGate, tempExpert))); !st) return st;
    size_t tempBytes = std::max(tempGate, tempExpert);

    gateKeysKernel<<<blocksFor(n), kBlock, 0, s>>>(a, keyA, valA);
    MOE_CUDA_CHECK_LAUNCH("assign slots gate keys");
    // Stable: equal gates keep index order.
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, tempBytes, keyA, keyB, valA, valB, items, 0, 32, s));
    expertKeysKernel<<<blocksFor(n), kBlock, 0, s>>>(a, valB, keyA);
    MOE_CUDA_CHECK_LAUNCH("assign slots expert keys");
    tempBytes = std::max(tempGate, tempExpert);
    MOE_CUDA_CHECK(cub::DeviceRadixSort::SortPairs(temp, tempBytes, keyA, keyB, valB, valA, items, 0, bitsFor(a.experts), s));
    // Where each expert's run starts in the sorted order.
    MOE_CUDA_CHECK(cudaMemsetAsync(counts, 0, static_cast<size_t>(a.experts) * sizeof(unsigned long long), s));
    histogramKernel<<<blocksFor(n), kBlock, 0, s>>>(a.expertIdx, n, a.experts, counts);
    MOE_CUDA_CHECK_LAUNCH("assign slots histogram");
    int64_t* count = valB;  // free again: reuse for the counts as int64
    copyCountsKernel<<<blocksFor(a.experts), kBlock, 0, s>>>(counts, count, a.experts);
    MOE_CUDA_CHECK_LAUNCH("assign slots counts");
    exclusiveScanKernel<<<1, 1, 0, s>>>(count, a.experts, offsets);
    MOE_CUDA_CHECK_LAUNCH("assign slots offsets");
    probsKeepKernel<<<blocksFor(n), kBlock, 0, s>>>(a, keyB, valA, offsets, keep);
    MOE_CUDA_CHECK_LAUNCH("assign slots probs keep");
    return Status::ok();
}

// Position policy (or no limit): keep the first `capacity` in token order.
__global__ void positionKeepKernel(AssignSlotsArgs a, const int64_t* pos, uint8_t* keep) {
    MOE_GRID_STRIDE(i, a.tokens * a.k) {
        const bool valid = validExpert(a.expertIdx[i], a.experts);
        keep[i] = valid && (a.capacity < 0 || pos[i] < a.capacity) ? 1 : 0;
    }
}

__global__ void finishSlotsKernel(AssignSlotsArgs a, const uint8_t* keep, const int64_t* keptPos) {
    MOE_GRID_STRIDE(i, a.tokens * a.k) {
        const bool valid = validExpert(a.expertIdx[i], a.experts);
        a.slot[i] = keep[i] ? keptPos[i] : -1;
        a.dropped[i] = valid && !keep[i] ? 1 : 0;
    }
}

}  // namespace

Status launchHistogram(const HistogramArgs& a, cudaStream_t s) {
    Scratch scratch(s);
    unsigned long long* counts = nullptr;
    if (auto st = scratch.alloc(&counts, a.experts); !st) return st;
    MOE_CUDA_CHECK(cudaMemsetAsync(counts, 0, static_cast<size_t>(a.experts) * sizeof(unsigned long long), s));
    if (a.assignments > 0) {
        histogramKernel<<<blocksFor(a.assignments), kBlock, 0, s>>>(a.expertIdx, a.assignments, a.experts, counts);
        MOE_CUDA_CHECK_LAUNCH("histogram");
    }
    copyCountsKernel<<<blocksFor(a.experts), kBlock, 0, s>>>(counts, a.counts, a.experts);
    MOE_CUDA_CHECK_LAUNCH("histogram copy");
    return Status::ok();
}

// One block per expert: the grid's x dimension bounds the expert count.
static Status checkExperts(int64_t experts) {
    if (experts > 0x7fffffff) return Status::invalid("CUDA dispatch: experts must be < 2^31");
    return Status::ok();
}

Status launchBuildDispatch(const BuildDispatchArgs& a, cudaStream_t s) {
    if (auto st = checkExperts(a.experts); !st) return st;
    const int64_t n = a.tokens * a.k;
    Scratch scratch(s);
    int64_t *pos = nullptr, *count = nullptr;
    if (auto st = scratch.alloc(&pos, n); !st) return st;
    if (auto st = scratch.alloc(&count, a.experts); !st) return st;
    positionsKernel<<<static_cast<unsigned>(a.experts), kScanBlock, 0, s>>>(a.expertIdx, nullptr, n, a.experts, pos,
                                                                           count);
    MOE_CUDA_CHECK_LAUNCH("dispatch positions");
    exclusiveScanKernel<<<1, 1, 0, s>>>(count, a.experts, a.offsets);
    MOE_CUDA_CHECK_LAUNCH("dispatch offsets");
    if (n > 0) {
        finishDispatchKernel<<<blocksFor(n), kBlock, 0, s>>>(a, pos);
        MOE_CUDA_CHECK_LAUNCH("dispatch finish");
    }
    return Status::ok();
}

Status launchAssignSlots(const AssignSlotsArgs& a, cudaStream_t s) {
    if (auto st = checkExperts(a.experts); !st) return st;
    const int64_t n = a.tokens * a.k;
    const unsigned experts = static_cast<unsigned>(a.experts);
    Scratch scratch(s);
    int64_t *pos = nullptr, *count = nullptr;
    uint8_t* keep = nullptr;
    if (auto st = scratch.alloc(&pos, n); !st) return st;
    if (auto st = scratch.alloc(&count, a.experts); !st) return st;
    if (auto st = scratch.alloc(&keep, n); !st) return st;
    if (a.capacity >= 0 && a.policy == DropPolicy::Probs) {
        if (auto st = probsKeep(a, keep, s); !st) return st;
    } else {
        positionsKernel<<<experts, kScanBlock, 0, s>>>(a.expertIdx, nullptr, n, a.experts, pos, count);
        MOE_CUDA_CHECK_LAUNCH("assign slots positions");
        if (n > 0) {
            positionKeepKernel<<<blocksFor(n), kBlock, 0, s>>>(a, pos, keep);
            MOE_CUDA_CHECK_LAUNCH("assign slots keep");
        }
    }
    // Slots: positions among the kept assignments, in token order.
    positionsKernel<<<experts, kScanBlock, 0, s>>>(a.expertIdx, keep, n, a.experts, pos, a.kept);
    MOE_CUDA_CHECK_LAUNCH("assign slots kept positions");
    if (n > 0) {
        finishSlotsKernel<<<blocksFor(n), kBlock, 0, s>>>(a, keep, pos);
        MOE_CUDA_CHECK_LAUNCH("assign slots finish");
    }
    return Status::ok();
}

}  // namespace moe::kernels::cuda
