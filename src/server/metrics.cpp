// Request counting and the Prometheus text of /metrics (server/metrics.h).
#include "server/metrics.h"

#include "core/error.h"

namespace bf {

void RequestCounts::add(int status) {
    std::lock_guard<std::mutex> lk(m_);
    ++by_status_[status];
}

std::map<int, int64_t> RequestCounts::snapshot() const {
    std::lock_guard<std::mutex> lk(m_);
    return by_status_;
}

namespace {
void metric(std::string& out, const char* name, const char* type, const char* help, double value) {
    out += strfmt("# HELP bitflash:%s %s\n# TYPE bitflash:%s %s\nbitflash:%s %.17g\n", name, help, name, type, name,
                  value);
}
}  // namespace

std::string prometheus_text(const SchedulerMetrics& s, const std::map<int, int64_t>& by_status, int n_slots) {
    std::string out;
    out +=
        "# HELP bitflash:http_requests_total HTTP answers by status code.\n# TYPE bitflash:http_requests_total "
        "counter\n";
    for (const auto& [code, n] : by_status)
        out += strfmt("bitflash:http_requests_total{code=\"%d\"} %lld\n", code, (long long)n);
    out +=
        "# HELP bitflash:http_errors_total HTTP answers with a status >= 400, by code.\n# TYPE "
        "bitflash:http_errors_total counter\n";
    for (const auto& [code, n] : by_status)
        if (code >= 400) out += strfmt("bitflash:http_errors_total{code=\"%d\"} %lld\n", code, (long long)n);
    metric(out, "requests_finished_total", "counter", "Generation requests finished (any reason).",
           double(s.requests_done));
    metric(out, "prompt_tokens_total", "counter", "Prompt tokens prefilled.", double(s.prompt_tokens));
    metric(out, "prompt_tokens_cached_total", "counter", "Prompt tokens reused from saved states.",
           double(s.cache_tokens));
    metric(out, "tokens_predicted_total", "counter", "Tokens generated.", double(s.predicted_tokens));
    metric(out, "prompt_seconds_total", "counter", "Prompt processing time of finished requests.", s.prompt_ms / 1e3);
    metric(out, "tokens_predicted_seconds_total", "counter", "Generation time of finished requests.",
           s.predicted_ms / 1e3);
    metric(out, "prompt_tokens_seconds", "gauge", "Average prompt throughput in tokens/s.",
           s.prompt_ms > 0 ? double(s.prompt_tokens) * 1e3 / s.prompt_ms : 0.0);
    metric(out, "predicted_tokens_seconds", "gauge", "Average generation throughput in tokens/s (per request).",
           s.predicted_ms > 0 ? double(s.predicted_tokens) * 1e3 / s.predicted_ms : 0.0);
    metric(out, "slots", "gauge", "Slots (-np).", double(n_slots));
    metric(out, "requests_processing", "gauge", "Busy slots.", double(s.busy_slots));
    metric(out, "requests_deferred", "gauge", "Requests waiting for a slot.", double(s.queued));
    return out;
}

}  // namespace bf
