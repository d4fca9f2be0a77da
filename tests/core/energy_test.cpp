// EnergyMeter against fake powercap trees: zone choice, joules, wraparound, unreadable counters.
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>

#include "core/energy.h"

namespace {

namespace fs = std::filesystem;

struct FakePowercap {
    std::string root;
    FakePowercap() {
        root = (fs::temp_directory_path() / ("bf_powercap_" + std::to_string(getpid()) + "_" +
                                             ::testing::UnitTest::GetInstance()->current_test_info()->name()))
                   .string();
        fs::remove_all(root);
        fs::create_directories(root);
    }
    ~FakePowercap() { fs::remove_all(root); }
    void zone(const std::string& dir, const std::string& name, const std::string& energy, const std::string& range) {
        fs::create_directories(root + "/" + dir);
        std::ofstream(root + "/" + dir + "/name") << name << "\n";
        set(dir, energy);
        std::ofstream(root + "/" + dir + "/max_energy_range_uj") << range << "\n";
    }
    void set(const std::string& dir, const std::string& energy) {
        std::ofstream(root + "/" + dir + "/energy_uj") << energy << "\n";
    }
};

TEST(Energy, MissingRootIsNotAvailableWithReason) {
    bf::EnergyMeter m("/nonexistent/powercap");
    EXPECT_FALSE(m.available());
    EXPECT_NE(m.reason().find("/nonexistent/powercap does not exist"), std::string::npos) << m.reason();
    EXPECT_LT(m.joules(m.read(), m.read()), 0);
}

TEST(Energy, PackagesSummedSubzonesAndOthersIgnored) {
    FakePowercap p;
    p.zone("intel-rapl:0", "package-0", "1000000", "262143328850");
    p.zone("intel-rapl:1", "package-1", "5000000", "262143328850");
    p.zone("intel-rapl:0:0", "core", "7", "262143328850");  // inside package-0: not counted again
    p.zone("intel-rapl:2", "psys", "9", "262143328850");    // platform zone: packages preferred
    bf::EnergyMeter m(p.root);
    ASSERT_TRUE(m.available()) << m.reason();
    EXPECT_EQ(m.zone_names(), "package-0 (intel-rapl:0), package-1 (intel-rapl:1)");
    const auto a = m.read();
    p.set("intel-rapl:0", "3500000");
    p.set("intel-rapl:0:0", "99999999");
    p.set("intel-rapl:1", "6000000");
    const auto b = m.read();
    EXPECT_DOUBLE_EQ(m.joules(a, b), 3.5);
}

TEST(Energy, NonPackageZonesUsedWhenNoPackage) {
    FakePowercap p;
    p.zone("amd-energy:0", "socket", "10", "1000");
    bf::EnergyMeter m(p.root);
    ASSERT_TRUE(m.available()) << m.reason();
    const auto a = m.read();
    p.set("amd-energy:0", "510");
    EXPECT_DOUBLE_EQ(m.joules(a, m.read()), 500e-6);
}

TEST(Energy, Wraparound) {
    FakePowercap p;
    p.zone("intel-rapl:0", "package-0", "262143000000", "262143328850");
    bf::EnergyMeter m(p.root);
    ASSERT_TRUE(m.available());
    const auto a = m.read();
    p.set("intel-rapl:0", "671150");  // wrapped: 328850 µJ to the top, then 671150 more
    EXPECT_NEAR(m.joules(a, m.read()), 1.0, 1e-9);
    // A value above the range is not a counter reading.
    EXPECT_LT(m.joules({262143328851ull}, a), 0);
}

TEST(Energy, UnreadableCountersGiveAReason) {
    FakePowercap p;
    fs::create_directories(p.root + "/intel-rapl:0/energy_uj");  // reading it fails as for a root-only file
    std::ofstream(p.root + "/intel-rapl:0/max_energy_range_uj") << "1000\n";
    p.zone("intel-rapl:1", "package-1", "garbage", "1000");
    bf::EnergyMeter m(p.root);
    EXPECT_FALSE(m.available());
    EXPECT_NE(m.reason().find("intel-rapl:0/energy_uj"), std::string::npos) << m.reason();

    FakePowercap q;
    q.zone("intel-rapl:0", "package-0", "5", "1000");
    bf::EnergyMeter ok(q.root);
    ASSERT_TRUE(ok.available());
    const auto a = ok.read();
    q.set("intel-rapl:0", "oops");  // a counter that stops reading mid-run: no number, not a crash
    EXPECT_TRUE(ok.read().empty());
    EXPECT_LT(ok.joules(a, ok.read()), 0);
}

TEST(Energy, EnvironmentOverridesRoot) {
    FakePowercap p;
    p.zone("intel-rapl:0", "package-0", "5", "1000");
    ASSERT_EQ(setenv("BF_POWERCAP_ROOT", p.root.c_str(), 1), 0);
    bf::EnergyMeter m;
    unsetenv("BF_POWERCAP_ROOT");
    EXPECT_TRUE(m.available()) << m.reason();
}

}  // namespace
