// `bitflash bench` on the tiny fixture: every output format parses with llama-bench's fields, depths are
// prefilled once, energy from a fake powercap tree, bad flag values refused in one line.
#include <gtest/gtest.h>
#include <stdlib.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include "../common/cli_run.h"

namespace {

using bf::testing::bitflash;
using bf::testing::Result;
using bf::testing::slurp;
using bf::testing::tmp;

std::string fixture(const std::string& name) { return std::string(BF_SOURCE_DIR) + "/tests/fixtures/" + name; }

const std::string& tiny() {
    static const std::string path = [] {
        const std::string gguf = tmp() + "/bench_tiny8.gguf";
        const Result r = bitflash("convert " + fixture("tiny8") + " -o " + gguf + " -q");
        EXPECT_EQ(r.code, 0) << r.err;
        return gguf;
    }();
    return path;
}

// Fast settings: a small probe buffer, few tokens.
const std::string kQuick = " -p 8 -n 4 -pg 4,2 -d 0,16 -t 1,2 -r 2 --bw-mib 4";

std::vector<std::string> lines(const std::string& s) {
    std::vector<std::string> v;
    std::stringstream ss(s);
    for (std::string l; std::getline(ss, l);) v.push_back(l);
    return v;
}

// RFC 4180 fields of one line (quoted fields may hold commas and doubled quotes).
std::vector<std::string> csv_fields(const std::string& line) {
    std::vector<std::string> out(1);
    bool quoted = false;
    for (size_t i = 0; i < line.size(); ++i) {
        const char ch = line[i];
        if (quoted && ch == '"' && i + 1 < line.size() && line[i + 1] == '"')
            out.back() += '"', ++i;
        else if (ch == '"')
            quoted = !quoted;
        else if (ch == ',' && !quoted)
            out.emplace_back();
        else
            out.back() += ch;
    }
    EXPECT_FALSE(quoted) << line;
    return out;
}

const char* kLlamaBenchFields[] = {"model_filename", "model_type", "model_size", "model_n_params", "backends",
                                   "n_batch",        "n_ubatch",   "n_threads",  "type_k",         "type_v",
                                   "n_prompt",       "n_gen",      "n_depth",    "test_time",      "avg_ns",
                                   "stddev_ns",      "avg_ts",     "stddev_ts",  "samples_ns",     "samples_ts"};

TEST(Bench, JsonHasLlamaBenchFieldsAndOneRowPerTest) {
    const Result r = bitflash("bench -m " + tiny() + kQuick + " -o json");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_TRUE(j.is_array());
    ASSERT_EQ(j.size(), 2u * 2u * 3u);  // threads × depths × (pp, tg, pg)
    std::set<std::string> seen;
    for (const auto& t : j) {
        for (const char* f : kLlamaBenchFields) EXPECT_TRUE(t.contains(f)) << f;
        EXPECT_EQ(t["samples_ns"].size(), 2u);
        EXPECT_EQ(t["samples_ts"].size(), 2u);
        const double ts0 = t["samples_ts"][0], ts1 = t["samples_ts"][1];
        EXPECT_NEAR(t["avg_ts"].get<double>(), 0.5 * (ts0 + ts1), 1e-6 * ts0);
        const double tokens = t["n_prompt"].get<double>() + t["n_gen"].get<double>();
        EXPECT_NEAR(ts0, tokens * 1e9 / t["samples_ns"][0].get<double>(), 1e-6 * ts0);
        seen.insert(std::to_string(t["n_threads"].get<int>()) + "/" + std::to_string(t["n_depth"].get<int>()) + "/" +
                    std::to_string(t["n_prompt"].get<int>()) + "+" + std::to_string(t["n_gen"].get<int>()));
        const bool decode = t["n_prompt"] == 0;
        for (const char* f : {"bw_before_gb_per_s", "bw_after_gb_per_s", "bw_share_before", "bound_ts", "bound_share",
                              "kv_bytes_per_token"})
            EXPECT_EQ(t[f].is_null(), !decode) << f << " " << t.dump();
        if (decode) {
            EXPECT_GT(t["bw_before_gb_per_s"].get<double>(), 0);
            EXPECT_GT(t["bound_share"].get<double>(), 0);
            EXPECT_GT(t["kv_bytes_per_token"].get<double>(), 0);
        }
        EXPECT_TRUE(t["joules_per_token"].is_null());  // the VM (or BF_POWERCAP_ROOT below) decides
    }
    EXPECT_EQ(seen.size(), j.size());
    EXPECT_TRUE(seen.count("2/16/4+2")) << "pg at depth 16 with 2 threads";
    EXPECT_EQ(j[0]["model_type"].get<std::string>().find(" F32"), j[0]["model_type"].get<std::string>().size() - 4);
}

TEST(Bench, DeeperContextReadsMoreKv) {
    const Result r =
        bitflash("bench -m " + tiny() + " -p 0 -n 2 -d 0,1,64 -t 1 -r 1 -o json --no-bandwidth -ctk q4_0 -ctv q4_0");
    ASSERT_EQ(r.code, 0) << r.err;
    const auto j = nlohmann::json::parse(r.out);
    ASSERT_EQ(j.size(), 3u);
    // The shared cache grows with the depth; the sliding-window rings stop growing at the window.
    const double b0 = j[0]["kv_bytes_per_token"], b1 = j[1]["kv_bytes_per_token"], b64 = j[2]["kv_bytes_per_token"];
    EXPECT_LT(b0, b1);
    EXPECT_LT(b1, b64);
    // tiny8 by hand: layers 5 (global) and 7 (cross) read the shared cache, 1 and 3 the window-4 rings;
    // 2 kv heads × 8 dims: q4_0 2·2·(4 + 2) = 24 B per token, the f32 rings 2·16·4 = 128 B per token.
    // Decoding 2 tokens after depth d reads contexts of d + 1 and d + 2 tokens.
    EXPECT_DOUBLE_EQ(b0, (2 * 24 * (1 + 2) + 2 * 128 * (1 + 2)) / 2.0);
    EXPECT_DOUBLE_EQ(b64, (2 * 24 * (65 + 66) + 2 * 128 * (4 + 4)) / 2.0);
    EXPECT_TRUE(j[0]["bw_before_gb_per_s"].is_null());
    EXPECT_EQ(j[2]["type_k"], "q4_0");
}

TEST(Bench, JsonlCsvAndMarkdownAgree) {
    const Result jl = bitflash("bench -m " + tiny() + kQuick + " -o jsonl");
    ASSERT_EQ(jl.code, 0) << jl.err;
    const auto jls = lines(jl.out);
    ASSERT_EQ(jls.size(), 12u);
    for (const auto& l : jls) EXPECT_TRUE(nlohmann::json::accept(l)) << l;

    const Result csv = bitflash("bench -m " + tiny() + kQuick + " -o csv");
    ASSERT_EQ(csv.code, 0) << csv.err;
    const auto rows = lines(csv.out);
    ASSERT_EQ(rows.size(), 13u);
    const auto head = csv_fields(rows[0]);
    for (const char* f : kLlamaBenchFields) EXPECT_NE(std::find(head.begin(), head.end(), f), head.end()) << f;
    for (size_t i = 1; i < rows.size(); ++i) EXPECT_EQ(csv_fields(rows[i]).size(), head.size()) << rows[i];

    const Result md = bitflash("bench -m " + tiny() + kQuick + " -o md");
    ASSERT_EQ(md.code, 0) << md.err;
    const auto ml = lines(md.out);
    ASSERT_GE(ml.size(), 14u);
    // Columns never overflow: every table line has its bars at the same display columns (± is one).
    auto bars = [](const std::string& l) {
        std::vector<size_t> at;
        size_t col = 0;
        for (unsigned char ch : l) {
            if ((ch & 0xC0) == 0x80) continue;
            if (ch == '|') at.push_back(col);
            ++col;
        }
        return at;
    };
    for (size_t i = 1; i < 14; ++i) EXPECT_EQ(bars(ml[i]), bars(ml[0])) << ml[i];
    EXPECT_NE(ml[2].find(" KiB |"), std::string::npos) << ml[2];  // a 0.36 MiB model reads in KiB, not 0.00 GiB
    EXPECT_NE(ml[2].find(" K |"), std::string::npos) << ml[2];
    EXPECT_NE(md.out.find("pp4+tg2 @ d16"), std::string::npos);
    EXPECT_NE(md.out.find("energy: "), std::string::npos);
}

TEST(Bench, ModelColumnNamesTheFileType) {
    const std::string gguf = tmp() + "/bench_q4km.gguf";
    ASSERT_EQ(bitflash("convert " + fixture("ternary256") + " -o " + gguf + " --outtype q4_k_m -q").code, 0);
    const Result r = bitflash("bench -m " + gguf + " -p 0 -n 1 -r 1 -t 1 --no-bandwidth -o json");
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string type = nlohmann::json::parse(r.out)[0]["model_type"];
    EXPECT_EQ(type.substr(type.size() - 7), " Q4_K_M") << type;
}

TEST(Bench, EnergyFromPowercapOrAReason) {
    const std::string root = tmp() + "/powercap";
    std::filesystem::create_directories(root + "/intel-rapl:0");
    std::ofstream(root + "/intel-rapl:0/name") << "package-0\n";
    std::ofstream(root + "/intel-rapl:0/energy_uj") << "123456\n";  // a frozen counter: 0 J, but readable
    std::ofstream(root + "/intel-rapl:0/max_energy_range_uj") << "262143328850\n";
    ASSERT_EQ(setenv("BF_POWERCAP_ROOT", root.c_str(), 1), 0);
    Result r = bitflash("bench -m " + tiny() + " -p 4 -n 2 -r 1 -t 1 --no-bandwidth -o json");
    Result md = bitflash("bench -m " + tiny() + " -p 4 -n 2 -r 1 -t 1 --no-bandwidth");
    ASSERT_EQ(setenv("BF_POWERCAP_ROOT", (root + "/missing").c_str(), 1), 0);
    const Result none = bitflash("bench -m " + tiny() + " -p 4 -n 2 -r 1 -t 1 --no-bandwidth");
    unsetenv("BF_POWERCAP_ROOT");
    ASSERT_EQ(r.code, 0) << r.err;
    for (const auto& t : nlohmann::json::parse(r.out)) EXPECT_EQ(t["joules_per_token"], 0.0) << t.dump();
    EXPECT_NE(md.out.find("J/token"), std::string::npos) << md.out;
    EXPECT_NE(md.out.find("energy: package-0 (intel-rapl:0)"), std::string::npos) << md.out;
    ASSERT_EQ(none.code, 0) << none.err;
    EXPECT_NE(none.out.find("energy: not available (" + root + "/missing does not exist"), std::string::npos)
        << none.out;
    EXPECT_EQ(none.out.find("J/token"), std::string::npos);
}

TEST(Bench, DepthsArePrefilledOnceAndPlotted) {
    const std::string png = tmp() + "/depth.png";
    const Result r = bitflash("bench -m " + tiny() + " -p 0 -n 2 -d 32,0,16,32 -t 1,2 -r 1 --bw-mib 4 --plot " + png);
    ASSERT_EQ(r.code, 0) << r.err;
    // Two growth steps (0 -> 16 -> 32) for both thread counts, the duplicate 32 dropped.
    size_t n = 0;
    for (const auto& l : lines(r.err)) n += l.rfind("bench: prefilling to depth", 0) == 0;
    EXPECT_EQ(n, 2u) << r.err;
    EXPECT_GT(std::filesystem::file_size(png), 1000u);
    const std::string gp = slurp(png + ".gp");
    EXPECT_NE(gp.find("set yrange [0:*]"), std::string::npos);
    EXPECT_NE(gp.find("set key below"), std::string::npos);
    EXPECT_NE(gp.find("bound"), std::string::npos);
}

TEST(Bench, BadValuesAreRefusedInOneLine) {
    for (const auto& [args, msg] : std::vector<std::pair<std::string, std::string>>{
             {"-o xml", "-o must be md, csv, json or jsonl"},
             {"-p 0 -n 0", "nothing to measure"},
             {"--plot \"it's.png\"", "may not contain '"},
             {"-pg 512", "-pg expects PP,TG"},
             {"-pg 0,4", "-pg expects PP,TG"},
             {"-pg a,b", "-pg expects a comma-separated list"},
             {"-d -5", "-d expects a comma-separated list"},
             {"-d 99999999999999999999", "-d expects a comma-separated list"},
             {"-d 2000000", "depth + test tokens must stay below"},
             {"-t 0", "-t values must be between 1 and 1024"},
             {"-r 0", "-r must be between 1 and 100000"},
             {"--bw-mib 0", "--bw-mib must be between 1 and 8192"},
             {"--bw-mib 100000", "--bw-mib must be between 1 and 8192"},
         }) {
        const Result r = bitflash("bench -m " + tiny() + " " + args);
        EXPECT_EQ(r.code, 1) << args;
        EXPECT_NE(r.err.find(msg), std::string::npos) << args << ": " << r.err;
        EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    }
}

}  // namespace
