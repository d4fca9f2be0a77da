// The batcher: slot choice with prompt-state reuse, the budgeted step, sampling and every stop rule.
#include "engine/batcher.h"

#include <algorithm>
#include <cmath>

#include "core/error.h"
#include "grammar/vocab_trie.h"

namespace bf {

namespace {
double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

// A slot keeps its sequence state between requests: `fed` is exactly what the state has seen. The logits
// after the last fed token are the step's row `row` while row_step == steps_, and are copied into `logits`
// (has_logits) when the request ends, so that an identical later prompt can sample without a forward pass.
struct Batcher::Slot {
    SequenceState state;
    std::vector<int32_t> fed;
    std::vector<float> logits;
    bool has_logits = false;
    int64_t row = -1, row_step = -1;
    uint64_t last_used = 0;
    CheckpointStore checkpoints;

    bool active = false;
    GenRequest req;
    GenCallbacks cb;
    std::shared_ptr<Sampler> sampler;
    std::unique_ptr<StreamDecoder> decoder;   // null once a stop string ended the text
    std::unique_ptr<GrammarMatcher> matcher;  // with a grammar: where the output is in it
    std::unique_ptr<MaskCache> mask_cache;    // with a grammar: masks of recent states, memoized steps
    std::vector<uint8_t> mask;                // the grammar's allowed tokens this step
    std::string pending;                      // output held back because it may start a stop string
    size_t prompt_pos = 0;                    // prompt tokens in the state
    int32_t next_token = -1;                  // sampled, to be fed at the next step
    GenOutcome out;
    std::chrono::steady_clock::time_point t_start, t_first;

    bool prefilling() const { return prompt_pos < req.prompt.size(); }
};

Batcher::Batcher(const Model& m, const Tokenizer* tok, std::vector<int32_t> eog, const BatcherOptions& o)
    : model_(m), tok_(tok), eog_(std::move(eog)), opt_(o) {
    if (opt_.n_slots < 1) fail("the number of slots (-np) must be >= 1");
    if (opt_.n_ctx < 1) fail("the context size (-c) must be >= 1");
    if (opt_.batch < 1) fail("the batch size (-b) must be >= 1");
    for (int i = 0; i < opt_.n_slots; ++i) {
        auto s = std::make_unique<Slot>();
        s->state = SequenceState::create(m.config, opt_.n_ctx, opt_.kv_type);
        s->logits.resize(size_t(m.config.n_vocab));
        s->checkpoints = CheckpointStore(opt_.ctx_checkpoints, opt_.checkpoint_bytes);
        slots_.push_back(std::move(s));
    }
}

Batcher::~Batcher() = default;

int Batcher::free_slots() const {
    return int(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return !s->active; }));
}

const std::vector<int32_t>& Batcher::slot_tokens(int i) const { return slots_.at(size_t(i))->fed; }

void Batcher::check(const GenRequest& r) const {
    if (r.prompt.empty()) fail("the prompt is empty");
    if (int64_t(r.prompt.size()) > opt_.n_ctx)
        fail(strfmt("the prompt (%zu tokens) exceeds the context size (%lld)", r.prompt.size(), (long long)opt_.n_ctx));
    for (int32_t t : r.prompt)
        if (t < 0 || t >= model_.config.n_vocab)
            fail(strfmt("token id %d is out of range [0, %lld)", t, (long long)model_.config.n_vocab));
    if (!r.stop.empty() && !tok_) fail("stop strings need a tokenizer");
    if (r.grammar && !tok_) fail("a grammar needs a tokenizer");
    if (r.grammar && r.ignore_eos) fail("a grammar cannot be combined with ignore_eos (it ends the output)");
    if (r.n_logprobs < -1 || r.n_logprobs > kMaxTopLogprobs)
        fail(strfmt("the number of top log-probabilities must be between 0 and %d", kMaxTopLogprobs));
}

void Batcher::forget() {
    for (auto& s : slots_)
        if (!s->active) {
            s->state.reset();
            s->fed.clear();
            s->has_logits = false;
            s->checkpoints.clear();
        }
}

void Batcher::admit(GenRequest r, GenCallbacks cb) {
    check(r);
    Slot* best = nullptr;
    size_t best_reuse = 0;
    for (auto& s : slots_) {
        if (s->active) continue;
        const size_t reuse = reusable_prefix(s->fed, s->has_logits, r.prompt);
        if (!best || reuse > best_reuse || (reuse == best_reuse && s->last_used < best->last_used)) {
            best = s.get();
            best_reuse = reuse;
        }
    }
    if (!best) fail("no free slot");
    // A checkpoint that reuses more wins; it may belong to any slot, a busy one too (it is a copy). It goes
    // into its own slot when that one is free, else into the slot chosen above.
    const StateCheckpoint* best_cp = nullptr;
    for (auto& s : slots_) {
        const StateCheckpoint* cp = s->checkpoints.longest_prefix(r.prompt);
        if (cp && cp->tokens.size() > best_reuse) {
            best_cp = cp;
            best_reuse = cp->tokens.size();
            if (!s->active) best = s.get();
        }
    }
    Slot& s = *best;
    if (best_cp) {  // assigning keeps the slot's reserved K/V capacity
        s.state = best_cp->state;
        s.fed = best_cp->tokens;
        std::copy(best_cp->logits.begin(), best_cp->logits.end(), s.logits.begin());
        s.has_logits = true;
    } else if (best_reuse == 0) {
        s.state.reset();
        s.fed.clear();
        s.has_logits = false;
    }
    s.last_used = ++clock_;
    s.active = true;
    s.req = std::move(r);
    s.cb = std::move(cb);
    s.pending.clear();
    s.prompt_pos = best_reuse;
    s.next_token = -1;
    s.row_step = -1;
    s.out = GenOutcome{};
    s.out.stats.cache_n = int64_t(best_reuse);
    s.out.stats.prompt_n = int64_t(s.req.prompt.size() - best_reuse);
    s.t_start = std::chrono::steady_clock::now();
    s.t_first = {};
    try {
        if (s.req.shared_sampler) {
            s.sampler = s.req.shared_sampler;
        } else {
            s.sampler = std::make_shared<Sampler>(s.req.sampler, int32_t(model_.config.n_vocab));
            s.req.sampler_seen = 0;
        }
        for (size_t i = s.req.sampler_seen; i < s.req.prompt.size(); ++i) s.sampler->accept(s.req.prompt[i]);
        // A grammar too ambiguous at its start throws here: the request ends with that error, the slot is freed.
        s.matcher = s.req.grammar ? std::make_unique<GrammarMatcher>(s.req.grammar) : nullptr;
        s.mask_cache = s.req.grammar ? std::make_unique<MaskCache>() : nullptr;
    } catch (const Error& e) {
        s.matcher.reset();
        return finish(s, StopReason::Error, e.what());
    }
    s.decoder = tok_ ? std::make_unique<StreamDecoder>(*tok_) : nullptr;
    if (!s.prefilling()) {  // the whole prompt is the saved state: sample from its saved logits
        s.t_first = std::chrono::steady_clock::now();
        keep_checkpoint(s, s.logits.data());
        sample_next(s, s.logits.data());
    }
}

void Batcher::step() {
    for (auto& s : slots_)
        if (s->active && s->cb.cancelled && s->cb.cancelled()) finish(*s, StopReason::Caller, "cancelled");
    std::vector<Slot*> order;
    for (auto& s : slots_)
        if (s->active) order.push_back(s.get());
    if (order.empty()) return;
    if (opt_.no_batch) {  // one slot per step, taking turns
        Slot* one = order[rr_++ % order.size()];
        order.assign(1, one);
    }
    // Decode tokens first (one row each, they keep latency low), then prompt chunks with what is left.
    std::vector<SeqChunk> chunks;
    std::vector<Slot*> owners;
    int64_t budget = opt_.batch;
    for (Slot* s : order)
        if (!s->prefilling() && s->next_token >= 0) {
            chunks.push_back({&s->state, std::span<const int32_t>(&s->next_token, 1)});
            owners.push_back(s);
            --budget;
        }
    for (Slot* s : order)
        if (s->prefilling() && (budget > 0 || chunks.empty())) {
            const int64_t left = int64_t(s->req.prompt.size() - s->prompt_pos);
            const int64_t n = std::max<int64_t>(1, std::min<int64_t>(budget, left));
            chunks.push_back({&s->state, std::span<const int32_t>(s->req.prompt.data() + s->prompt_pos, size_t(n))});
            owners.push_back(s);
            budget -= n;
        }
    if (chunks.empty()) return;
    const size_t V = size_t(model_.config.n_vocab);
    logits_.resize(chunks.size() * V);
    try {
        forward_batch(model_, chunks, LogitsFor::LastToken, ws_, logits_.data());
    } catch (const std::exception& e) {  // should not happen (inputs are checked); fail those requests only
        for (Slot* s : owners) {
            s->state.reset();
            s->fed.clear();
            s->has_logits = false;
            finish(*s, StopReason::Error, e.what());
        }
        return;
    }
    const int64_t step_no = ++steps_;
    for (size_t i = 0; i < owners.size(); ++i) {
        Slot& s = *owners[i];
        s.fed.insert(s.fed.end(), chunks[i].tokens.begin(), chunks[i].tokens.end());
        s.has_logits = false;  // the slot's copy is stale; the row below is current
        s.row = int64_t(i);
        s.row_step = step_no;
        if (s.prefilling()) {
            s.prompt_pos += chunks[i].tokens.size();
            if (s.prefilling()) continue;
            s.t_first = std::chrono::steady_clock::now();
            keep_checkpoint(s, logits_.data() + i * V);
        }
        sample_next(s, logits_.data() + i * V);
    }
}

// At the end of a prompt (before generation): the state a follow-up prompt is most likely to extend, even
// when the client sends the reply back changed (OpenAI clients drop reasoning_content).
void Batcher::keep_checkpoint(Slot& s, const float* logits) {
    if (opt_.ctx_checkpoints <= 0) return;
    const StateCheckpoint* same = s.checkpoints.longest_prefix(s.fed);
    if (same && same->tokens.size() == s.fed.size()) return;  // kept already (now marked used)
    StateCheckpoint cp;
    cp.tokens = s.fed;
    cp.state = s.state;  // copying takes only the used part of the shared K/V
    cp.logits.assign(logits, logits + model_.config.n_vocab);
    s.checkpoints.add(std::move(cp));
}

// Samples the next token and either finishes the request or schedules the token for the next step.
// The order of the rules is the contract every command shares.
void Batcher::sample_next(Slot& s, const float* logits) {
    s.next_token = -1;
    if (s.req.max_tokens == 0) return finish(s, StopReason::Length);
    // Guard: NaN/Inf logits mean broken weights or activations; sampling them would emit garbage quietly.
    const float* end = logits + model_.config.n_vocab;
    if (const float* bad = std::find_if(logits, end, [](float x) { return !std::isfinite(x); }); bad != end)
        return finish(
            s, StopReason::Error,
            strfmt("the model produced a %s logit (token id %lld) after %lld tokens: its weights or "
                   "activations are broken (load it with --check-tensors to scan the weights)",
                   std::isnan(*bad) ? "NaN" : "infinite", (long long)(bad - logits), (long long)s.state.n_past));
    const auto t0 = std::chrono::steady_clock::now();
    const uint8_t* allowed = nullptr;
    if (s.matcher && !(allowed = grammar_mask(s))) return;
    const int32_t id = s.sampler->sample(logits, allowed);
    s.sampler->accept(id);
    s.out.stats.sample_ms += ms_between(t0, std::chrono::steady_clock::now());
    if (!s.req.ignore_eos && std::find(eog_.begin(), eog_.end(), id) != eog_.end()) {
        s.out.end_token = id;
        return finish(s, StopReason::EndOfGeneration);
    }
    if (s.matcher && !s.matcher->accept(tok_->token_to_piece(id)))  // the mask said yes: cannot happen
        return finish(s, StopReason::Error, "internal error: the grammar refused a token its mask allowed");
    s.out.tokens.push_back(id);
    ++s.out.stats.predicted_n;
    if (s.req.n_logprobs >= 0 && s.req.on_logprob)
        s.req.on_logprob(token_logprob(logits, model_.config.n_vocab, id, s.req.n_logprobs));
    if (emit_text(s, s.decoder ? s.decoder->push(id) : std::string())) return;       // stop string or caller stop
    if (s.state.n_past >= s.state.n_ctx) return finish(s, StopReason::ContextFull);  // no room to feed it
    if (s.req.max_tokens > 0 && s.out.stats.predicted_n >= s.req.max_tokens) return finish(s, StopReason::Length);
    s.next_token = id;
}

const VocabTrie& Batcher::trie() {
    if (!trie_) {
        std::vector<std::string> pieces(size_t(model_.config.n_vocab));
        for (int32_t i = 0; i < tok_->n_vocab() && i < model_.config.n_vocab; ++i)
            pieces[size_t(i)] = tok_->token_to_piece(i);
        trie_ = std::make_unique<VocabTrie>(pieces, eog_);
    }
    return *trie_;
}

const uint8_t* Batcher::grammar_mask(Slot& s) {
    size_t n = 0;
    try {
        n = trie().allowed(*s.matcher, s.mask, *s.mask_cache);
    } catch (const Error& e) {
        finish(s, StopReason::Error, e.what());
        return nullptr;
    }
    if (s.matcher->can_end())
        for (int32_t e : eog_)
            if (e >= 0 && size_t(e) < s.mask.size() && !s.mask[size_t(e)]) s.mask[size_t(e)] = 1, ++n;
    if (n == 0) {
        finish(s, StopReason::Error, "the grammar allows no token of the vocabulary here (nor the end of the output)");
        return nullptr;
    }
    return s.mask.data();
}

namespace {
// Where the first stop string starts in `text`, or npos.
size_t find_stop(const std::string& text, const std::vector<std::string>& stops) {
    size_t at = std::string::npos;
    for (const auto& stop : stops) at = std::min(at, text.find(stop));
    return at;
}
}  // namespace

// Passes output on, holding back a tail that could begin a stop string. Returns true when the request
// ended (a stop string matched, or the caller said stop).
bool Batcher::emit_text(Slot& s, const std::string& piece) {
    s.pending += piece;
    const size_t at = find_stop(s.pending, s.req.stop);
    if (at != std::string::npos) {
        s.pending.resize(at);
        if (!s.pending.empty() && s.cb.on_text) s.cb.on_text(s.pending);
        s.pending.clear();
        s.decoder.reset();
        finish(s, StopReason::StopString);
        return true;
    }
    size_t keep = 0;
    for (const auto& stop : s.req.stop)
        for (size_t k = std::min(s.pending.size(), stop.size() - 1); k > keep; --k)
            if (s.pending.compare(s.pending.size() - k, k, stop, 0, k) == 0) {
                keep = k;
                break;
            }
    std::string out = s.pending.substr(0, s.pending.size() - keep);
    s.pending.erase(0, s.pending.size() - keep);
    if (s.cb.on_text && !s.cb.on_text(out)) {
        finish(s, StopReason::Caller, "cancelled");
        return true;
    }
    return false;
}

void Batcher::finish(Slot& s, StopReason why, const std::string& error) {
    if (!s.active) return;
    s.active = false;
    if (why != StopReason::Caller && why != StopReason::Error && s.decoder) {
        s.pending += s.decoder->flush();
        // The held-back tail is output after all, unless it now contains a stop string.
        const size_t at = find_stop(s.pending, s.req.stop);
        if (at != std::string::npos) {
            s.pending.resize(at);
            why = StopReason::StopString;
        }
        if (!s.pending.empty() && s.cb.on_text) s.cb.on_text(s.pending);
    }
    s.pending.clear();
    // Keep the logits after the last fed token while they are still this step's row: the reuse checkpoint.
    if (s.row_step == steps_.load() && s.row >= 0 && !s.has_logits) {
        const size_t V = size_t(model_.config.n_vocab);
        std::copy(logits_.begin() + long(size_t(s.row) * V), logits_.begin() + long(size_t(s.row + 1) * V),
                  s.logits.begin());
        s.has_logits = true;
    }
    const auto now = std::chrono::steady_clock::now();
    GenOutcome& o = s.out;
    o.stop = why;
    o.error = error;
    if (s.t_first.time_since_epoch().count() != 0 && s.t_first >= s.t_start) {
        o.stats.prompt_ms = ms_between(s.t_start, s.t_first);
        o.stats.predicted_ms = ms_between(s.t_first, now);
    } else {
        o.stats.prompt_ms = ms_between(s.t_start, now);
    }
    GenCallbacks cb = std::move(s.cb);
    s.cb = {};
    s.sampler.reset();
    s.decoder.reset();
    s.matcher.reset();
    s.mask_cache.reset();
    s.next_token = -1;
    // Cancelled mid-prompt: the state holds a prompt prefix, which `fed` records, so it stays reusable.
    if (cb.on_done) cb.on_done(o);
}

Batcher::Slot& Batcher::idle_slot(int i) {
    if (i < 0 || i >= int(slots_.size())) fail(strfmt("slot %d does not exist (there are %zu)", i, slots_.size()));
    Slot& s = *slots_[size_t(i)];
    if (s.active) fail(strfmt("slot %d is busy", i));
    return s;
}

uint64_t Batcher::fingerprint() const {
    if (!fingerprint_) fingerprint_ = model_fingerprint(model_);
    return fingerprint_;
}

size_t Batcher::save_slot(int i, const std::string& path, bool prompt_only) {
    Slot& s = idle_slot(i);
    if (prompt_only) {
        const StateCheckpoint* cp = s.checkpoints.newest();
        if (!cp) return 0;  // no prompt has ended in this slot (e.g. Ctrl-C during prefill): nothing to save
        return write_state_file(path, fingerprint(), cp->tokens, cp->state, cp->logits);
    }
    static const std::vector<float> none;
    return write_state_file(path, fingerprint(), s.fed, s.state, s.has_logits ? s.logits : none);
}

StateFileContents Batcher::restore_slot(int i, const std::string& path) {
    Slot& s = idle_slot(i);
    s.fed.clear();
    s.has_logits = false;
    StateFileContents c = read_state_file(path, fingerprint(), model_.config.n_vocab, s.state);
    s.fed = c.tokens;
    if (!c.logits.empty()) {
        std::copy(c.logits.begin(), c.logits.end(), s.logits.begin());
        s.has_logits = true;
    }
    return c;
}

void Batcher::erase_slot(int i) {
    Slot& s = idle_slot(i);
    s.state.reset();
    s.fed.clear();
    s.has_logits = false;
    s.checkpoints.clear();
}

Batcher::SlotInfo Batcher::slot_info(int i) const {
    const Slot& s = *slots_.at(size_t(i));
    SlotInfo r;
    r.active = s.active;
    r.n_tokens = s.fed.size();
    if (s.active) {
        r.prompt_n = s.req.prompt.size();
        r.predicted_n = s.out.stats.predicted_n;
    }
    r.n_checkpoints = s.checkpoints.size();
    r.checkpoint_bytes = s.checkpoints.bytes();
    r.state_bytes = s.state.bytes();
    return r;
}

void Batcher::abort_all(const std::string& error) {
    for (auto& s : slots_) finish(*s, StopReason::Error, error);
}

GenOutcome generate_one(Batcher& b, GenRequest r, const std::function<bool(const std::string&)>& on_text,
                        std::function<bool()> cancelled) {
    GenOutcome result;
    bool done = false;
    b.admit(std::move(r), {on_text,
                           [&](GenOutcome& o) {
                               result = std::move(o);
                               done = true;
                           },
                           std::move(cancelled)});
    while (!done) b.step();
    if (result.stop == StopReason::Error) fail(result.error);
    return result;
}

}  // namespace bf
