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
        if (stop_) fail("the server is shutting down");
        if (queue_.size() >= opt_.max_queue)
            throw QueueFull(strfmt("the server is busy: %zu requests are already waiting for a slot", queue_.size()));
        queue_.push_back({std::move(p), out});
    }
    cv_.notify_all();
    return out;
}

void Scheduler::run() {
    std::deque<Pending> incoming;
    for (;;) {
        {
            std::unique_lock<std::mutex> lk(mu_);
            if (batcher_.idle()) cv_.wait(lk, [&] { return stop_ || !queue_.empty(); });
            if (stop_) {
                for (auto& p : queue_) p.out->push({"", true, FinishReason::None, {}, "the server is shutting down"});
                queue_.clear();
                break;
            }
            // Take as many waiting requests as there are free slots (first come, first served).
            for (int n_free = batcher_.free_slots(); n_free > 0 && !queue_.empty(); --n_free) {
                incoming.push_back(std::move(queue_.front()));
                queue_.pop_front();
            }
        }
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
    cb.on_text = [out](const std::string& text) {
        if (!text.empty()) out->push({text, false, FinishReason::None, {}, ""});
        return true;
    };
    cb.cancelled = [out] { return out->cancelled(); };
    cb.on_done = [this, out](GenOutcome& o) {
        GenEvent done;
        done.done = true;
        done.timings = o.stats;
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
        p.out->push({"", true, FinishReason::None, {}, e.what()});
    }
}

}  // namespace bf
