// The server's scheduler thread: slot assignment (with prompt-state reuse), the batched step, sampling,
// stop strings and per-request event delivery.
#include "server/scheduler.h"

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <sstream>

#include "core/error.h"
#include "engine/model_files.h"
#include "tokenizer/chat_template.h"

namespace bf {

namespace {
double ms_between(std::chrono::steady_clock::time_point a, std::chrono::steady_clock::time_point b) {
    return std::chrono::duration<double, std::milli>(b - a).count();
}
}  // namespace

std::unique_ptr<ServedModel> load_served_model(const std::string& path, const std::string& template_name) {
    auto file = std::make_shared<GgufFile>(GgufFile::open(path));
    auto sm = std::unique_ptr<ServedModel>(new ServedModel{Model::from_gguf(file), load_tokenizer(*file), {}, {}, path});
    sm->eog = load_eog_ids(*file, sm->tok);
    if (!template_name.empty()) {
        if (std::filesystem::exists(template_name)) {
            std::ifstream in(template_name, std::ios::binary);
            std::ostringstream ss;
            ss << in.rdbuf();
            sm->chat_template = ss.str();
        } else {
            sm->chat_template = builtin_template(template_name);
        }
    } else if (auto t = load_chat_template(*file)) {
        sm->chat_template = *t;
    } else {
        sm->chat_template = builtin_template("phi4-mini");  // the model family this engine serves
    }
    return sm;
}

bool GenStream::next(GenEvent& out, std::chrono::milliseconds timeout) {
    std::unique_lock<std::mutex> lk(m_);
    if (!cv_.wait_for(lk, timeout, [&] { return !q_.empty(); })) return false;
    out = std::move(q_.front());
    q_.pop_front();
    return true;
}

void GenStream::push(GenEvent e) {
    {
        std::lock_guard<std::mutex> lk(m_);
        q_.push_back(std::move(e));
    }
    cv_.notify_one();
}

// A slot keeps its sequence state between requests: `fed` is exactly what the state has seen, and `logits`
// are the logits after the last fed token (valid when has_logits). That pair is the reuse checkpoint.
struct Scheduler::Slot {
    SequenceState state;
    std::vector<int32_t> fed;
    std::vector<float> logits;
    bool has_logits = false;
    uint64_t last_used = 0;

    // The active request (out != nullptr).
    std::shared_ptr<GenStream> out;
    GenParams params;
    std::unique_ptr<Sampler> sampler;
    std::unique_ptr<StreamDecoder> decoder;
    std::string pending;       // output text held back because it may start a stop string
    size_t prompt_pos = 0;     // prompt tokens in the state
    int32_t next_token = -1;   // sampled, to be fed at the next step
    GenTimings t;
    std::chrono::steady_clock::time_point t_start, t_first;

    bool active() const { return out != nullptr; }
    bool prefilling() const { return prompt_pos < params.prompt.size(); }
};

Scheduler::Scheduler(const ServedModel& m, const SchedulerOptions& o) : m_(m), opt_(o) {
    if (opt_.n_slots < 1) fail("the number of slots (-np) must be >= 1");
    if (opt_.n_ctx < 1) fail("the context size (-c) must be >= 1");
    if (opt_.batch < 1) fail("the batch size (-b) must be >= 1");
    for (int i = 0; i < opt_.n_slots; ++i) {
        auto s = std::make_unique<Slot>();
        s->state = SequenceState::create(m_.model.config, opt_.n_ctx, opt_.kv_type);
        s->logits.resize(size_t(m_.model.config.n_vocab));
        slots_.push_back(std::move(s));
    }
    thread_ = std::thread([this] { run(); });
}

Scheduler::~Scheduler() { stop(); }

void Scheduler::stop() {
    {
        std::lock_guard<std::mutex> lk(mu_);
        stop_ = true;
    }
    cv_.notify_all();
    if (thread_.joinable()) thread_.join();
}

std::shared_ptr<GenStream> Scheduler::submit(GenParams p) {
    if (p.prompt.empty()) fail("the prompt is empty");
    if (int64_t(p.prompt.size()) > opt_.n_ctx)
        fail(strfmt("the prompt (%zu tokens) exceeds the context size (%lld)", p.prompt.size(), (long long)opt_.n_ctx));
    for (int32_t t : p.prompt)
        if (t < 0 || t >= m_.model.config.n_vocab)
            fail(strfmt("token id %d is out of range [0, %lld)", t, (long long)m_.model.config.n_vocab));
    auto out = std::make_shared<GenStream>();
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (stop_) fail("the server is shutting down");
        if (queue_.size() >= opt_.max_queue)
            throw QueueFull(strfmt("the server is busy: %zu requests are already waiting for a slot", queue_.size()));
        queue_.push_back({std::move(p), out, std::chrono::steady_clock::now()});
    }
    cv_.notify_all();
    return out;
}

void Scheduler::run() {
    std::deque<Pending> incoming;
    for (;;) {
        {
            std::unique_lock<std::mutex> lk(mu_);
            const bool any_active = std::any_of(slots_.begin(), slots_.end(), [](auto& s) { return s->active(); });
            const bool any_free = std::any_of(slots_.begin(), slots_.end(), [](auto& s) { return !s->active(); });
            if (!any_active) cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            if (stop_) {
                for (auto& p : queue_) p.out->push({"", true, FinishReason::None, {}, "the server is shutting down"});
                queue_.clear();
                break;
            }
            // Take as many waiting requests as there are free slots (first come, first served).
            size_t n_free = any_free ? size_t(std::count_if(slots_.begin(), slots_.end(), [](auto& s) { return !s->active(); })) : 0;
            while (n_free-- > 0 && !queue_.empty()) {
                incoming.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        admit(incoming);
        for (auto& s : slots_)
            if (s->active() && s->out->cancelled()) {
                cancelled_.fetch_add(1);
                finish(*s, FinishReason::None, "cancelled");
            }
        step();
    }
    for (auto& s : slots_)
        if (s->active()) finish(*s, FinishReason::None, "the server is shutting down");
}

// Assigns each incoming request a free slot: the one whose saved tokens are the longest prefix of the prompt
// (reused as is, §SERVER.md "state reuse"), else the least recently used one (its state is reset).
void Scheduler::admit(std::deque<Pending>& incoming) {
    while (!incoming.empty()) {
        Pending p = std::move(incoming.front());
        incoming.pop_front();
        if (p.out->cancelled()) {
            cancelled_.fetch_add(1);
            continue;
        }
        Slot* best = nullptr;
        size_t best_reuse = 0;
        for (auto& s : slots_) {
            if (s->active()) continue;
            const auto& pr = p.params.prompt;
            size_t reuse = 0;
            if (!s->fed.empty() && s->fed.size() <= pr.size() && std::equal(s->fed.begin(), s->fed.end(), pr.begin()) &&
                (s->fed.size() < pr.size() || s->has_logits))
                reuse = s->fed.size();
            if (!best || reuse > best_reuse || (reuse == best_reuse && s->last_used < best->last_used)) {
                best = s.get();
                best_reuse = reuse;
            }
        }
        BF_CHECK(best != nullptr);  // run() takes no more requests than there are free slots
        Slot& s = *best;
        if (best_reuse == 0) {
            s.state.reset();
            s.fed.clear();
            s.has_logits = false;
        }
        s.last_used = ++clock_;
        s.out = std::move(p.out);
        s.params = std::move(p.params);
        s.pending.clear();
        s.prompt_pos = best_reuse;
        s.next_token = -1;
        s.t = GenTimings{};
        s.t.cache_n = int64_t(best_reuse);
        s.t.prompt_n = int64_t(s.params.prompt.size() - best_reuse);
        s.t_start = std::chrono::steady_clock::now();
        try {
            s.sampler = std::make_unique<Sampler>(s.params.sampler, int32_t(m_.model.config.n_vocab));
            for (int32_t t : s.params.prompt) s.sampler->accept(t);
        } catch (const Error& e) {
            finish(s, FinishReason::None, e.what());
            continue;
        }
        s.decoder = std::make_unique<StreamDecoder>(m_.tok);
        if (!s.prefilling()) {  // the whole prompt is the saved state: sample from its saved logits
            s.t_first = std::chrono::steady_clock::now();
            sample_next(s);
        }
    }
}

void Scheduler::step() {
    std::vector<SeqChunk> chunks;
    std::vector<Slot*> owners;
    int64_t budget = opt_.batch;
    std::vector<Slot*> order;
    for (auto& s : slots_)
        if (s->active()) order.push_back(s.get());
    if (order.empty()) return;
    if (opt_.no_batch) {  // one slot per step, taking turns
        Slot* one = order[rr_++ % order.size()];
        order.assign(1, one);
    }
    // Decode tokens first (one row each, they keep latency low), then prompt chunks with what is left.
    for (Slot* s : order)
        if (!s->prefilling() && s->next_token >= 0) {
            chunks.push_back({&s->state, std::span<const int32_t>(&s->next_token, 1)});
            owners.push_back(s);
            --budget;
        }
    for (Slot* s : order)
        if (s->prefilling() && (budget > 0 || chunks.empty())) {
            const int64_t n = std::max<int64_t>(1, std::min<int64_t>(budget, int64_t(s->params.prompt.size() - s->prompt_pos)));
            chunks.push_back({&s->state, std::span<const int32_t>(s->params.prompt.data() + s->prompt_pos, size_t(n))});
            owners.push_back(s);
            budget -= n;
        }
    if (chunks.empty()) return;
    const size_t V = size_t(m_.model.config.n_vocab);
    logits_.resize(chunks.size() * V);
    try {
        forward_batch(m_.model, chunks, LogitsFor::LastToken, ws_, logits_.data());
    } catch (const std::exception& e) {  // should not happen (inputs are checked); fail those requests only
        for (Slot* s : owners) {
            s->state.reset();
            s->fed.clear();
            s->has_logits = false;
            finish(*s, FinishReason::None, e.what());
        }
        return;
    }
    steps_.fetch_add(1);
    for (size_t i = 0; i < owners.size(); ++i) {
        Slot& s = *owners[i];
        s.fed.insert(s.fed.end(), chunks[i].tokens.begin(), chunks[i].tokens.end());
        std::copy(logits_.begin() + long(i * V), logits_.begin() + long((i + 1) * V), s.logits.begin());
        s.has_logits = true;
        if (s.prefilling()) {
            s.prompt_pos += chunks[i].tokens.size();
            if (s.prefilling()) continue;
            s.t_first = std::chrono::steady_clock::now();
        }
        sample_next(s);
    }
}

// Samples from the slot's logits and either finishes the request or schedules the token for the next step.
void Scheduler::sample_next(Slot& s) {
    const int32_t id = s.sampler->sample(s.logits.data());
    s.sampler->accept(id);
    s.next_token = -1;
    if (!s.params.ignore_eos && std::find(m_.eog.begin(), m_.eog.end(), id) != m_.eog.end())
        return finish(s, FinishReason::Stop);
    ++s.t.predicted_n;
    if (emit_text(s, s.decoder->push(id), false)) return;  // a stop string matched
    if (s.params.max_tokens >= 0 && s.t.predicted_n >= s.params.max_tokens) return finish(s, FinishReason::Length);
    if (s.state.n_past >= s.state.n_ctx) return finish(s, FinishReason::Length);  // no room to feed it: no shift
    s.next_token = id;
}

// Appends output text, holding back a tail that could begin a stop string. Returns true (and finishes the
// request) when a stop string matched.
bool Scheduler::emit_text(Slot& s, const std::string& piece, bool final) {
    s.pending += piece;
    size_t at = std::string::npos;
    for (const auto& stop : s.params.stop) at = std::min(at, s.pending.find(stop));
    if (at != std::string::npos) {
        s.pending.resize(at);
        if (!s.pending.empty()) s.out->push({std::move(s.pending), false, FinishReason::None, {}, ""});
        s.pending.clear();
        s.decoder.reset();
        finish(s, FinishReason::Stop);
        return true;
    }
    size_t keep = 0;
    if (!final)
        for (const auto& stop : s.params.stop)
            for (size_t k = std::min(s.pending.size(), stop.size() - 1); k > keep; --k)
                if (s.pending.compare(s.pending.size() - k, k, stop, 0, k) == 0) {
                    keep = k;
                    break;
                }
    if (s.pending.size() > keep) {
        s.out->push({s.pending.substr(0, s.pending.size() - keep), false, FinishReason::None, {}, ""});
        s.pending.erase(0, s.pending.size() - keep);
    }
    return false;
}

void Scheduler::finish(Slot& s, FinishReason why, const std::string& error) {
    if (!s.out) return;
    auto out = std::move(s.out);
    if (error.empty() && s.decoder) {  // no decoder: a stop string already ended the output
        s.pending += s.decoder->flush();
        // The held-back tail is output after all, unless it now contains a stop string.
        size_t at = std::string::npos;
        for (const auto& stop : s.params.stop) at = std::min(at, s.pending.find(stop));
        if (at != std::string::npos) {
            s.pending.resize(at);
            why = FinishReason::Stop;
        }
        if (!s.pending.empty()) out->push({std::move(s.pending), false, FinishReason::None, {}, ""});
    }
    s.pending.clear();
    const auto now = std::chrono::steady_clock::now();
    GenEvent done;
    done.done = true;
    done.finish = why;
    done.error = error;
    done.timings = s.t;
    if (s.t_first.time_since_epoch().count() != 0 && s.t_first >= s.t_start) {
        done.timings.prompt_ms = ms_between(s.t_start, s.t_first);
        done.timings.predicted_ms = ms_between(s.t_first, now);
    } else {
        done.timings.prompt_ms = ms_between(s.t_start, now);
    }
    out->push(std::move(done));
    s.sampler.reset();
    s.decoder.reset();
    s.next_token = -1;
    s.t_first = {};
    // Cancelled mid-prompt: the state holds a prompt prefix, which `fed` records, so it stays reusable.
}

}  // namespace bf
