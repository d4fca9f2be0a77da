// The SambaY forward pass (architecture.md §4), one function per block, for a chunk of tokens of one
// sequence. Prefill and decode are the same code: a chunk of 1 token is a decode step.
#pragma once
#include <cstdint>
#include <functional>
#include <span>
#include <vector>

#include "model/state.h"
#include "model/weights.h"

namespace bf {

// Debug tap (docs/style.md §8): called with named intermediates, e.g. ("mixer", layer, rows x d_model).
using TapFn = std::function<void(const char* name, int64_t layer, const float* data, int64_t n_rows, int64_t n_cols)>;

// Observer of every weight product's input rows x ([n_rows, w.cols]), called just before it (imatrix).
using MatmulObserver = std::function<void(const Matrix& w, const float* x, int64_t n_rows)>;

// Scratch buffers reused across calls so that the decode loop does not allocate.
struct Workspace {
    TapFn tap;                 // optional
    MatmulObserver on_matmul;  // optional
    std::vector<float> x, a, mix, big, big2, u, xdbc, dt_in, dt, y, memory, q_buf, kv_k, kv_v, logits_in;
    std::vector<int64_t> key_lo, key_hi;
};

enum class LogitsFor { LastToken, AllTokens };

// A run of consecutive tokens of one sequence, appended at its state's n_past.
struct SeqChunk {
    SequenceState* state = nullptr;
    std::span<const int32_t> tokens;
};

// Runs several sequences' chunks in one pass: the matrix products see all their rows at once (the
// weights stream from memory once), while conv, scan and attention use each sequence's own state.
// Logits rows come in chunk order: every token's (AllTokens) or each chunk's last (LastToken).
// Throws bf::Error for token ids out of range or a context overflow, before any state changes.
void forward_batch(const Model& m, std::span<const SeqChunk> chunks, LogitsFor which, Workspace& ws, float* logits);

// Runs `tokens` (appended at position state.n_past) through the model and advances the state.
// Writes logits for the last token ([n_vocab]) or for every token ([n_tokens, n_vocab]).
// With LastToken the cross-decoder runs only for the last token (§4.8, exact).
// Throws bf::Error for token ids out of range or a context overflow; the state is unchanged then.
void forward(const Model& m, SequenceState& st, std::span<const int32_t> tokens, LogitsFor which, Workspace& ws,
             float* logits);

}  // namespace bf
