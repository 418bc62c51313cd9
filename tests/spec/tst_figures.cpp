// Parameter and FLOP counts checked against hand calculations (worked out in the comments).
#include <QtTest>

#include "moe/spec/derived.h"
#include "moe/spec/project_io.h"
#include "moe/spec/train_memory.h"

using namespace moe::spec;

class TestFigures : public QObject {
    Q_OBJECT
private Q_SLOTS:
    // blobs (2 features, 4 classes), d=8; one MoE block: 4 FFN experts h=16, top-2, layernorm.
    void smallTopK() {
        ModelSpec m;
        m.input.dataset = DatasetKind::Blobs;
        m.input.classes = 4;
        m.stem.dModel = 8;
        BlockSpec b;
        b.kind = BlockKind::Moe;
        b.experts = 4;
        b.ffn.hidden = 16;
        b.router.k = 2;
        m.blocks.push_back(b);
        const auto f = computeFigures(m);
        QCOMPARE(f.stemParams, 24LL);            // 2*8 + 8
        QCOMPARE(f.headParams, 52LL);            // LN 2*8 + 8*4 + 4
        QCOMPARE(f.blocks[0].params, 1168LL);    // LN 16 + router 8*4 + 4 experts * (2*8*16 + 16 + 8)
        QCOMPARE(f.blocks[0].activeParams, 608.0);  // 16 + 32 + 2 * 280
        QCOMPARE(f.blocks[0].flopsPerToken, 1088.0);  // router 2*8*4 + 2 * 4*8*16
        QCOMPARE(f.params, 1244LL);
        QCOMPARE(f.activeParams, 684.0);
        QCOMPARE(f.flopsPerToken, 1184.0);       // stem 2*2*8 + head 2*8*4 + block
    }

    // Fashion-MNIST in 14x14 patches (4 tokens of 196), d=4; a dense RMSNorm block (h=8) and an
    // MoE++ block: 2 FFN experts + zero + copy + constant, 1 shared expert, hash router k=1, no norm.
    void moePlusPlusHashPatches() {
        ModelSpec m;
        m.input.dataset = DatasetKind::FashionMnist;
        m.input.tokens = TokenMode::Patches;
        m.input.patch = 14;
        m.stem.dModel = 4;
        m.head.norm = NormKind::None;
        BlockSpec d;
        d.kind = BlockKind::Dense;
        d.norm = NormKind::RmsNorm;
        d.ffn.hidden = 8;
        BlockSpec b;
        b.kind = BlockKind::Moe;
        b.norm = NormKind::None;
        b.experts = 2;
        b.zeroExperts = {1, 1, 1};
        b.sharedExperts = 1;
        b.ffn.hidden = 8;
        b.router.kind = RouterKind::Hash;
        b.router.k = 1;
        m.blocks = {d, b};
        const auto f = computeFigures(m);
        QCOMPARE(m.input.tokensPerSample(), 4);
        QCOMPARE(m.input.tokenDim(), 196);
        QCOMPARE(f.stemParams, 788LL);           // 196*4 + 4
        QCOMPARE(f.headParams, 50LL);            // 4*10 + 10
        QCOMPARE(f.blocks[0].params, 80LL);      // RMS 4 + (2*4*8 + 8 + 4)
        QCOMPARE(f.blocks[0].flopsPerToken, 128.0);  // 4*4*8
        QCOMPARE(f.blocks[1].params, 242LL);     // (2 + 1 shared) * 76 + constant (3*4 + 2)
        // shared 76 + k * (2/5 * 76 + 1/5 * 14)
        QVERIFY(qFuzzyCompare(f.blocks[1].activeParams, 109.2));
        // shared 128 + k * (2/5 * 128 + 1/5 * 2*4*2)
        QVERIFY(qFuzzyCompare(f.blocks[1].flopsPerToken, 182.4));
        QCOMPARE(f.params, 1160LL);
        QVERIFY(qFuzzyCompare(f.activeParams, 1027.2));
        QVERIFY(qFuzzyCompare(f.flopsPerToken, 1898.4));  // stem 1568 + head 80/4 + 128 + 182.4
    }

    void expectedK() {
        ModelSpec m;
        m.stem.dModel = 8;
        BlockSpec b;
        b.experts = 8;
        b.router.kind = RouterKind::ExpertChoice;
        b.router.capacityFactor = 2.0;
        m.blocks = {b};
        QCOMPARE(moe::spec::expectedK(m, 0), 2.0);
        m.blocks[0].router.kind = RouterKind::Dynamic;
        m.blocks[0].router.maxExperts = 3;
        QCOMPARE(moe::spec::expectedK(m, 0), 3.0);
    }

    void scheduleResolvesExperts() {
        auto p = loadProject(MOE_SOURCE_DIR "/projects/fashion_descending.json");
        QVERIFY2(p.ok(), p.message().c_str());
        QCOMPARE(p->model.expertsOf(0), 16);
        QCOMPARE(p->model.expertsOf(1), 12);
        QCOMPARE(p->model.expertsOf(2), 8);
        QCOMPARE(p->model.expertsOf(3), 4);
        QCOMPARE(p->model.kOf(3), 2);
    }

    // Gated FFNs have three matrices and no biases unless asked: d=8, h=16.
    void swigluCounts() {
        ModelSpec m;
        m.stem.dModel = 8;
        BlockSpec dense;
        dense.kind = BlockKind::Dense;
        dense.norm = NormKind::RmsNorm;
        dense.ffn = {16, Activation::Swiglu, false};
        BlockSpec moe;
        moe.experts = 4;
        moe.router.k = 2;
        moe.ffn = {16, Activation::Geglu, false};
        m.blocks = {dense, moe};
        auto f = computeFigures(m);
        QCOMPARE(f.blocks[0].params, 392LL);            // RMS 8 + 3*8*16
        QCOMPARE(f.blocks[0].flopsPerToken, 768.0);     // 6*8*16
        QCOMPARE(f.blocks[1].params, 1584LL);           // LN 16 + router 32 + 4 * 384
        QCOMPARE(f.blocks[1].activeParams, 816.0);      // 16 + 32 + 2 * 384
        QCOMPARE(f.blocks[1].flopsPerToken, 1600.0);    // 2*8*4 + 2 * 768
        m.blocks[0].ffn.bias = true;
        f = computeFigures(m);
        QCOMPARE(f.blocks[0].params, 432LL);            // + gate and up biases 2*16 + down bias 8
    }

    // DeepSeek-V3's attention (arXiv:2412.19437, config of deepseek-ai/DeepSeek-V3): d 7168, 128
    // heads, q_lora 1536, kv_lora 512, nope 128, rope 64, v 128.
    //   q_a 7168*1536 = 11,010,048 + norm 1,536 + q_b 1536*128*192 = 37,748,736
    //   kv_a 7168*576 = 4,128,768 + norm 512 + kv_b 512*128*256 = 16,777,216
    //   o 128*128*7168 = 117,440,512                      -> 187,107,328 (+ the layer's RMSNorm 7168)
    void mlaDeepSeekV3() {
        ModelSpec m;
        m.input.dataset = DatasetKind::Text;
        m.input.seqLen = 4096;
        m.stem.kind = StemKind::Embedding;
        m.stem.dModel = 7168;
        BlockSpec b;
        b.kind = BlockKind::Attention;
        b.norm = NormKind::None;
        b.attention.kind = AttentionKind::Mla;
        b.attention.heads = 128;
        b.attention.qLoraRank = 1536;
        b.attention.kvLoraRank = 512;
        b.attention.qkNopeHeadDim = 128;
        b.attention.qkRopeHeadDim = 64;
        b.attention.vHeadDim = 128;
        m.blocks = {b};
        auto f = computeFigures(m);
        QCOMPARE(f.blocks[0].params, 187107328LL);
        QCOMPARE(f.blocks[0].kvCachePerToken, 576LL);   // latent 512 + rotary key 64
        QCOMPARE(f.kvCacheBytesPerToken("bf16"), 1152.0);
        // Projections 2 * (params - norms); QK^T 2*128*192*c + AV 2*128*128*c, c = 4097/2.
        const double c = 4097.0 / 2;
        QCOMPARE(f.blocks[0].attentionFlopsPerToken, 2.0 * 128 * 192 * c + 2.0 * 128 * 128 * c);
        QCOMPARE(f.blocks[0].flopsPerToken, 2.0 * (187107328 - 1536 - 512) + f.blocks[0].attentionFlopsPerToken);
        // Without the query latent: queries straight from d. d 16, 2 heads, nope 4, rope 2, v 4, kv_lora 8:
        // q 16*2*6 = 192, kv_a 16*10 = 160, norm 8, kv_b 8*2*8 = 128, o 2*4*16 = 128.
        m.stem.dModel = 16;
        m.blocks[0].attention = {};
        m.blocks[0].attention.kind = AttentionKind::Mla;
        m.blocks[0].attention.heads = 2;
        m.blocks[0].attention.qkNopeHeadDim = 4;
        m.blocks[0].attention.qkRopeHeadDim = 2;
        m.blocks[0].attention.vHeadDim = 4;
        m.blocks[0].attention.kvLoraRank = 8;
        f = computeFigures(m);
        QCOMPARE(f.blocks[0].params, 616LL);
        QCOMPARE(f.blocks[0].kvCachePerToken, 10LL);
    }

    // MHA, d 16, 4 heads of 4, 8 tokens: projections 4 * 2*16*16 = 2048 FLOPs; QK^T + AV
    // 4*4*4*c with c the average context.
    void attentionFlops() {
        ModelSpec m;
        m.input.dataset = DatasetKind::Text;
        m.input.seqLen = 8;
        m.stem.kind = StemKind::Embedding;
        m.stem.dModel = 16;
        BlockSpec b;
        b.kind = BlockKind::Attention;
        b.norm = NormKind::None;
        b.attention.heads = 4;
        b.attention.kvHeads = 4;
        m.blocks = {b};
        auto core = [&](bool causal, int window) {
            m.blocks[0].attention.causal = causal;
            m.blocks[0].attention.window = window;
            const auto f = computeFigures(m);
            return f.blocks[0].flopsPerToken == 2048.0 + f.blocks[0].attentionFlopsPerToken ? f.blocks[0].attentionFlopsPerToken : -1.0;
        };
        QCOMPARE(core(true, 0), 64 * 4.5);    // causal: (8+1)/2
        QCOMPARE(core(true, 3), 64 * 2.625);  // contexts 1 2 3 3 3 3 3 3 -> 21/8
        QCOMPARE(core(false, 0), 64 * 8.0);   // every token sees all 8
        QCOMPARE(core(false, 3), 64 * 4.25);  // within distance 2: 3 4 5 5 5 5 4 3 -> 34/8
        QCOMPARE(core(true, 100), 64 * 4.5);  // a window longer than the sequence changes nothing
        QCOMPARE(computeFigures(m).blocks[0].params, 1024LL);  // q, k, v, o 16*16 each
        QCOMPARE(computeFigures(m).blocks[0].kvCachePerToken, 32LL);  // 2 * 4 heads * 4
        // GQA with 2 key/value heads: k and v shrink to 16*8, the cache to 2*2*4; QK-norm adds 2*4.
        m.blocks[0].attention.kind = AttentionKind::Gqa;
        m.blocks[0].attention.kvHeads = 2;
        m.blocks[0].attention.qkNorm = true;
        const auto f = computeFigures(m);
        QCOMPARE(f.blocks[0].params, 256LL + 128 + 128 + 256 + 8);
        QCOMPARE(f.blocks[0].kvCachePerToken, 16LL);
        // Biases on every projection: q 16, k 8, v 8, o 16.
        m.blocks[0].attention.bias = true;
        QCOMPARE(computeFigures(m).blocks[0].params, 776LL + 48);
    }

    // A tied head shares the embedding table: counted once (in the stem); the LM head's FLOPs stay.
    void tiedEmbeddingCountedOnce() {
        ModelSpec m;
        m.input.dataset = DatasetKind::Text;
        m.input.seqLen = 4;
        m.stem.kind = StemKind::Embedding;
        m.stem.dModel = 8;
        m.stem.vocab = 256;
        m.head.norm = NormKind::RmsNorm;
        BlockSpec b;
        b.kind = BlockKind::Dense;
        b.norm = NormKind::None;
        b.ffn = {8, Activation::Gelu, false};
        m.blocks = {b};
        auto f = computeFigures(m);
        QCOMPARE(f.stemParams, 2048LL);
        QCOMPARE(f.headParams, 2056LL);            // RMS 8 + 8*256
        QCOMPARE(f.headFlopsPerToken, 4096.0);     // every position predicts: 2*8*256
        QCOMPARE(f.params, 2048LL + 2056 + 128);
        m.head.tied = true;
        f = computeFigures(m);
        QCOMPARE(f.headParams, 8LL);
        QCOMPARE(f.headFlopsPerToken, 4096.0);
        QCOMPARE(f.params, 2048LL + 8 + 128);
        QCOMPARE(f.paramsWithoutEmbedding, 136LL);
        // Learned positions add a table of tokens-per-sample rows unless max_positions says more.
        m.stem.positions = PositionKind::Learned;
        QCOMPARE(computeFigures(m).stemParams, 2048LL + 4 * 8);
        m.stem.maxPositions = 10;
        QCOMPARE(computeFigures(m).stemParams, 2048LL + 10 * 8);
    }

    // tests/data/spec/tiny_transformer.json, d 32, 16 tokens, vocab 256 tied, RMSNorm everywhere:
    //   attention gqa 4 heads of 8, 2 kv heads: 32*32 + 2*32*16 + 32*32 + norm 32 = 3104 params,
    //     2*3072 + 4*32*8.5 = 7232 FLOPs, KV 2*2*8 = 32 elements
    //   dense (first_dense) swiglu h 64: 3*32*64 + 32 = 6176 params, 6*32*64 = 12288 FLOPs
    //   moe 4 swiglu experts h 16, top-2: 32 + router 128 + 4*1536 = 6304; active 32 + 128 + 2*1536
    //     = 3232; FLOPs 2*32*4 + 2*6*32*16 = 6400
    //   stem 256*32 = 8192; head RMS 32 (tied), 2*32*256 = 16384 FLOPs
    void tinyTransformerByHand() {
        auto p = loadProject(MOE_SOURCE_DIR "/tests/data/spec/tiny_transformer.json");
        QVERIFY2(p.ok(), p.message().c_str());
        const auto f = computeFigures(p->model);
        QCOMPARE(int(f.blocks.size()), 4);
        QCOMPARE(f.seqLen, 16);
        const BlockKind kinds[] = {BlockKind::Attention, BlockKind::Dense, BlockKind::Attention, BlockKind::Moe};
        for (int i = 0; i < 4; ++i) QVERIFY(f.blocks[size_t(i)].kind == kinds[i]);
        QCOMPARE(f.blocks[0].params, 3104LL);
        QCOMPARE(f.blocks[0].flopsPerToken, 7232.0);
        QCOMPARE(f.blocks[1].params, 6176LL);
        QCOMPARE(f.blocks[1].flopsPerToken, 12288.0);
        QCOMPARE(f.blocks[3].params, 6304LL);
        QCOMPARE(f.blocks[3].activeParams, 3232.0);
        QCOMPARE(f.blocks[3].flopsPerToken, 6400.0);
        QCOMPARE(f.stemParams, 8192LL);
        QCOMPARE(f.headParams, 32LL);
        QCOMPARE(f.params, 26912LL);
        QCOMPARE(f.paramsWithoutEmbedding, 18720LL);
        QCOMPARE(f.activeParams, 26912.0 - 6304 + 3232);
        QCOMPARE(f.flopsPerToken, 16384.0 + 2 * 7232 + 12288 + 6400);
        QCOMPARE(f.kvCachePerToken, 64LL);
        QCOMPARE(f.kvCacheBytesPerToken("bf16"), 128.0);
        const BlockFigures g = f.authored(0);
        QVERIFY(g.kind == BlockKind::Group);
        QCOMPARE(g.layers, 4);
        QCOMPARE(g.params, 18688LL);             // the four layers: 18720 less the head's 32
        QCOMPARE(g.kvCachePerToken, 64LL);
    }

    // The training memory estimate of the tiny transformer, by hand (conventions in train_memory.h):
    // 26912 parameters; AdamW; batch 8 x 16 tokens; d_model 32; per token: attention layers
    // 2*3104/32 + 6*32 + 2*4 heads*8.5 context = 454, the dense layer 2*6176/32 + 192 = 578, the
    // MoE layer 2*3232/32 + 192 = 394; byte logits 128 tokens x 256, and their gradient.
    void trainingMemoryByHand() {
        auto p = loadProject(MOE_SOURCE_DIR "/tests/data/spec/tiny_transformer.json");
        QVERIFY2(p.ok(), p.message().c_str());
        const TrainingMemory m = estimateTrainingMemory(p.value());
        QCOMPARE(m.params, 26912LL);
        QCOMPARE(m.weightBytes, 4.0 * 26912);
        QCOMPARE(m.gradientBytes, 4.0 * 26912);
        QCOMPARE(m.optimizerBytes, 8.0 * 26912);
        QCOMPARE(m.tokensPerStep, 128LL);
        QCOMPARE(m.activationBytes, 4.0 * (128 * (454 + 578 + 454 + 394) + 2 * 128 * 256));
        p->training.optimizer = OptimizerKind::Sgd;
        p->training.momentum = 0;
        p->training.batch = 16;
        const TrainingMemory s = estimateTrainingMemory(p.value());
        QCOMPARE(s.optimizerBytes, 0.0);
        QCOMPARE(s.activationBytes, 2 * m.activationBytes);
    }

    void weightMemory() {
        QCOMPARE(bytesPerElement("fp32"), 4.0);
        QCOMPARE(bytesPerElement("bf16"), 2.0);
        QCOMPARE(bytesPerElement("fp8"), 1.0);
        QCOMPARE(bytesPerElement("int3"), 0.0);
    }
};

QTEST_APPLESS_MAIN(TestFigures)
#include "tst_figures.moc"
