// /metrics of `bitflash serve`: HTTP answers counted by status code, and the Prometheus text exposition of
// those counts with the scheduler's token totals, rates, busy slots and queue length.
#pragma once
#include <cstdint>
#include <map>
#include <mutex>
#include <string>

#include "server/scheduler.h"

namespace bf {

class RequestCounts {
public:
    void add(int status);
    std::map<int, int64_t> snapshot() const;

private:
    mutable std::mutex m_;
    std::map<int, int64_t> by_status_;
};

// Prometheus text format 0.0.4; metric names start with `bitflash:` as llama-server's start with `llamacpp:`.
std::string prometheus_text(const SchedulerMetrics& s, const std::map<int, int64_t>& by_status, int n_slots);

}  // namespace bf
