// Energy counters of the CPU package from Linux powercap (RAPL: intel-rapl:N zones, also used for AMD),
// so `bench` can report joules per token; the root is overridable for tests (env BF_POWERCAP_ROOT).
#pragma once
#include <cstdint>
#include <string>
#include <vector>

namespace bf {

class EnergyMeter {
public:
    // Finds the top-level zones (NAME:N, not the NAME:N:M sub-zones they already contain) under `root`
    // ("" = $BF_POWERCAP_ROOT, else /sys/class/powercap). Zones named package-* are used when present,
    // else every top-level zone. Never throws: when nothing is readable, available() is false and
    // reason() says why.
    explicit EnergyMeter(const std::string& root = "");

    bool available() const { return !zones_.empty(); }
    const std::string& reason() const { return reason_; }
    std::string zone_names() const;  // e.g. "package-0 (intel-rapl:0)"

    // Counter values in microjoules, one per zone; empty if a counter could not be read.
    std::vector<uint64_t> read() const;
    // Joules between two readings, each zone's wraparound at max_energy_range_uj handled (one wrap at
    // most: the counters wrap after minutes to hours). Negative if either reading failed.
    double joules(const std::vector<uint64_t>& before, const std::vector<uint64_t>& after) const;

private:
    struct Zone {
        std::string dir, name;
        uint64_t range_uj = 0;  // counter wraps to 0 after this value
    };
    std::vector<Zone> zones_;
    std::string reason_;
};

}  // namespace bf
