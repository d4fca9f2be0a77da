// The server's scheduler thread: the request queue in front of the engine's batcher, and the translation
// of the batcher's text and outcome into per-request events.
#include "server/scheduler.h"

#include <algorithm>

#include "core/error.h"

namespace bf {

std::unique_ptr<ServedModel> load_served_model(const std::string& path, const std::string& template_name,
                                               bool check_tensors) {
    return load_model(path, template_name, "phi4-mini", check_tensors);
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

namespace {
BatcherOptions batcher_options(const SchedulerOptions& o) {
    BatcherOptions b;
    b.n_slots = o.n_slots;
    b.n_ctx = o.n_ctx;
    b.kv_type = o.kv_type;
    b.batch = o.batch;
    b.no_batch = o.no_batch;
    b.ctx_checkpoints = o.ctx_checkpoints;
    b.checkpoint_bytes = o.checkpoint_bytes;
    return b;
}
}  // namespace

Scheduler::Scheduler(const ServedModel& m, const SchedulerOptions& o)
    : m_(m), opt_(o), batcher_(m, batcher_options(o)) {
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
    batcher_.check(p);  // only reads the options and the model
    auto out = std::make_shared<GenStream>();
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (stop_) throw Unavailable("the server is shutting down");
        if (queue_.size() >= opt_.max_queue)
            throw QueueFull(strfmt("the server is busy: %zu requests are already waiting for a slot", queue_.size()));
        queue_.push_back({std::move(p), out});
    }
    cv_.notify_all();
    return out;
}

void Scheduler::run_on_engine(const std::function<void(Batcher&)>& f) {
    std::packaged_task<void()> task([&] { f(batcher_); });
    std::future<void> done = task.get_future();
    {
        std::lock_guard<std::mutex> lk(mu_);
        if (stop_) fail("the server is shutting down");
        tasks_.push_back(std::move(task));
    }
    cv_.notify_all();
    done.get();
}

size_t Scheduler::in_flight() const {
    std::lock_guard<std::mutex> lk(mu_);
    return queue_.size() + size_t(metrics_.busy_slots);
}

SchedulerMetrics Scheduler::metrics() const {
    std::lock_guard<std::mutex> lk(mu_);
    SchedulerMetrics m = metrics_;
    m.queued = queue_.size();
    return m;
}

void Scheduler::count_done(const GenStats& st) {
    std::lock_guard<std::mutex> lk(mu_);
    metrics_.prompt_tokens += st.prompt_n;
    metrics_.cache_tokens += st.cache_n;
    metrics_.predicted_tokens += st.predicted_n;
    metrics_.prompt_ms += st.prompt_ms;
    metrics_.predicted_ms += st.predicted_ms;
    ++metrics_.requests_done;
}

void Scheduler::run() {
    std::deque<Pending> incoming;
    for (;;) {
        std::deque<std::packaged_task<void()>> tasks;
        {
            std::unique_lock<std::mutex> lk(mu_);
            metrics_.busy_slots = int(batcher_.options().n_slots) - batcher_.free_slots();
            if (batcher_.idle()) cv_.wait(lk, [&] { return stop_ || !queue_.empty() || !tasks_.empty(); });
            if (stop_) {
                for (auto& p : queue_)
                    p.out->push({"", true, FinishReason::None, {}, "the server is shutting down", {}});
                queue_.clear();
                for (auto& t : tasks_) t();  // their waiters must not hang; they see the slots as they are
                tasks_.clear();
                break;
            }
            tasks.swap(tasks_);
            // Take as many waiting requests as there are free slots (first come, first served).
            for (int n_free = batcher_.free_slots(); n_free > 0 && !queue_.empty(); --n_free) {
                incoming.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
        for (auto& t : tasks) t();  // exceptions go to the waiting caller through the future
        while (!incoming.empty()) {
            admit(std::move(incoming.front()));
            incoming.pop_front();
        }
        batcher_.step();
    }
    batcher_.abort_all("the server is shutting down");
}

void Scheduler::admit(Pending p) {
    if (p.out->cancelled()) {
        cancelled_.fetch_add(1);
        return;
    }
    std::shared_ptr<GenStream> out = p.out;
    GenCallbacks cb;
    // Log-probabilities wait here for the text of their token (which a stop-string check may hold back).
    auto lp = std::make_shared<std::vector<TokenLogprob>>();
    p.params.on_logprob = [lp](const TokenLogprob& t) { lp->push_back(t); };
    cb.on_text = [out, lp](const std::string& text) {
        if (!text.empty() || !lp->empty()) out->push({text, false, FinishReason::None, {}, "", std::move(*lp)});
        lp->clear();
        return true;
    };
    cb.cancelled = [out] { return out->cancelled(); };
    cb.on_done = [this, out, lp](GenOutcome& o) {
        GenEvent done;
        done.done = true;
        done.logprobs = std::move(*lp);
        done.timings = o.stats;
        count_done(o.stats);
        switch (o.stop) {
            case StopReason::EndOfGeneration:
            case StopReason::StopString: done.finish = FinishReason::Stop; break;
            case StopReason::Length:
            case StopReason::ContextFull: done.finish = FinishReason::Length; break;  // no context shift
            case StopReason::Caller:
                cancelled_.fetch_add(1);
                done.error = "cancelled";
                break;
            case StopReason::Error: done.error = o.error; break;
        }
        out->push(std::move(done));
    };
    try {
        batcher_.admit(std::move(p.params), std::move(cb));
    } catch (const Error& e) {  // checked at submit; kept so that one bad request cannot stop the thread
        p.out->push({"", true, FinishReason::None, {}, e.what(), {}});
    }
}

}  // namespace bf
