// Reads RAPL energy counters through /sys/class/powercap (see energy.h).
#include "core/energy.h"

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>

namespace bf {

namespace {

namespace fs = std::filesystem;

// The unsigned decimal number that is the whole content of `path`; false with `why` set otherwise.
bool read_u64(const std::string& path, uint64_t* out, std::string* why) {
    std::error_code ec;
    if (fs::is_directory(path, ec)) return *why = path + " is not a file", false;
    std::ifstream f(path);
    if (!f) return *why = path + " not readable: " + std::strerror(errno), false;
    std::string s;
    std::getline(f, s);
    if (s.empty() || s.find_first_not_of("0123456789") != std::string::npos || s.size() > 19)
        return *why = path + " does not hold a counter value", false;
    *out = std::strtoull(s.c_str(), nullptr, 10);
    return true;
}

std::string read_line(const std::string& path) {
    std::ifstream f(path);
    std::string s;
    std::getline(f, s);
    return s;
}

bool is_top_level_zone(const std::string& name) {
    const size_t colon = name.find(':');
    return colon != std::string::npos && colon > 0 && colon + 1 < name.size() &&
           name.find(':', colon + 1) == std::string::npos &&
           name.find_first_not_of("0123456789", colon + 1) == std::string::npos;
}

}  // namespace

EnergyMeter::EnergyMeter(const std::string& root_arg) {
    std::string root = root_arg;
    if (root.empty()) {
        const char* env = std::getenv("BF_POWERCAP_ROOT");
        root = env && *env ? env : "/sys/class/powercap";
    }
    std::error_code ec;
    if (!fs::is_directory(root, ec)) {
        reason_ = root + " does not exist (no powercap support on this machine or in this VM)";
        return;
    }
    std::vector<Zone> all, packages;
    std::string first_problem;
    std::vector<std::string> names;
    for (const auto& e : fs::directory_iterator(root, ec)) names.push_back(e.path().filename().string());
    std::sort(names.begin(), names.end());
    for (const std::string& n : names) {
        if (!is_top_level_zone(n)) continue;
        Zone z{root + "/" + n, read_line(root + "/" + n + "/name"), 0};
        uint64_t v = 0;
        std::string why;
        if (!read_u64(z.dir + "/energy_uj", &v, &why) || !read_u64(z.dir + "/max_energy_range_uj", &z.range_uj, &why) ||
            z.range_uj == 0) {
            if (first_problem.empty()) first_problem = why.empty() ? z.dir + "/max_energy_range_uj is 0" : why;
            continue;
        }
        if (z.name.empty()) z.name = n;
        (z.name.rfind("package", 0) == 0 ? packages : all).push_back(z);
    }
    zones_ = packages.empty() ? all : packages;
    if (zones_.empty()) reason_ = first_problem.empty() ? "no RAPL energy zones under " + root : first_problem;
}

std::string EnergyMeter::zone_names() const {
    std::string s;
    for (const Zone& z : zones_)
        s += (s.empty() ? "" : ", ") + z.name + " (" + fs::path(z.dir).filename().string() + ")";
    return s;
}

std::vector<uint64_t> EnergyMeter::read() const {
    std::vector<uint64_t> v(zones_.size());
    std::string why;
    for (size_t i = 0; i < zones_.size(); ++i)
        if (!read_u64(zones_[i].dir + "/energy_uj", &v[i], &why)) return {};
    return v;
}

double EnergyMeter::joules(const std::vector<uint64_t>& before, const std::vector<uint64_t>& after) const {
    if (zones_.empty() || before.size() != zones_.size() || after.size() != zones_.size()) return -1;
    double uj = 0;
    for (size_t i = 0; i < zones_.size(); ++i) {
        const uint64_t range = zones_[i].range_uj;
        if (before[i] > range || after[i] > range) return -1;  // not a value this counter can hold
        uj += double(after[i] >= before[i] ? after[i] - before[i] : range - before[i] + after[i]);
    }
    return uj * 1e-6;
}

}  // namespace bf
