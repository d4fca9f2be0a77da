// convert and quantize never leave a partial file under the output name: killed with SIGKILL while the
// temporary file is being written, or failing on a write error (a file-size limit), the final name stays
// absent; an ordinary error also removes the temporary file. The truncated temporary is refused.
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>
#include <thread>
#include <vector>

#include "../common/cli_run.h"

namespace {

namespace fs = std::filesystem;
using bf::testing::slurp;
using bf::testing::tmp;

// Starts `bitflash ARGS...` with output to files; file_limit > 0 caps the size of files it may write.
pid_t start(const std::vector<std::string>& args, rlim_t file_limit = 0) {
    const pid_t pid = ::fork();
    if (pid != 0) return pid;
    if (file_limit) {
        const rlimit r{file_limit, file_limit};
        ::setrlimit(RLIMIT_FSIZE, &r);
        ::signal(SIGXFSZ, SIG_IGN);  // the write then fails with EFBIG instead of killing the process
    }
    const std::string err = tmp() + "/atomic_stderr.txt";
    std::freopen("/dev/null", "w", stdout);
    std::freopen(err.c_str(), "w", stderr);
    std::vector<char*> argv{const_cast<char*>(BF_BINARY)};
    for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
    argv.push_back(nullptr);
    ::execv(BF_BINARY, argv.data());
    ::_exit(127);
}

int wait_code(pid_t pid) {
    int st = 0;
    ::waitpid(pid, &st, 0);
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

// A random model big enough (about 40 MB in f32) that writing it takes a while.
const std::string& big_config() {
    static const std::string path = [] {
        nlohmann::json cfg =
            nlohmann::json::parse(slurp(std::string(BF_SOURCE_DIR) + "/tests/fixtures/tiny8/config.json"));
        cfg["hidden_size"] = 256;
        cfg["intermediate_size"] = 512;
        cfg["vocab_size"] = 32000;
        cfg["num_attention_heads"] = 8;
        cfg["num_key_value_heads"] = 4;
        cfg["mamba_dt_rank"] = 16;
        cfg["tie_word_embeddings"] = false;
        const std::string p = tmp() + "/big_config.json";
        std::ofstream(p) << cfg.dump();
        return p;
    }();
    return path;
}

// Runs the command, kills it with SIGKILL once its temporary file holds data, and checks the final name is
// absent. Returns true if the kill happened mid-write (false: the command finished first).
bool killed_mid_write(const std::vector<std::string>& args, const std::string& out) {
    fs::remove(out);
    fs::remove(out + ".tmp");
    const pid_t pid = start(args);
    // Generous: only catches a command that hangs without writing, never a slow machine.
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::minutes(5);
    while (std::chrono::steady_clock::now() < deadline) {
        std::error_code ec;
        const auto size = fs::file_size(out + ".tmp", ec);  // (uintmax_t)-1 with ec set while it is absent
        if (!ec && size > (1u << 20)) {
            ::kill(pid, SIGKILL);
            EXPECT_EQ(wait_code(pid), 128 + SIGKILL);
            EXPECT_FALSE(fs::exists(out)) << "a partial file exists under the final name " << out;
            EXPECT_TRUE(fs::exists(out + ".tmp"));  // SIGKILL leaves the temporary: nothing can remove it
            return true;
        }
        int st = 0;
        if (::waitpid(pid, &st, WNOHANG) == pid) {
            EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) == 0) << slurp(tmp() + "/atomic_stderr.txt");
            EXPECT_TRUE(fs::exists(out));
            return false;
        }
        std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
    ::kill(pid, SIGKILL);
    wait_code(pid);
    ADD_FAILURE() << "the command neither wrote its temporary file nor finished";
    return false;
}

TEST(AtomicWrite, ConvertKilledMidWriteLeavesNoFinalFile) {
    const std::string out = tmp() + "/killed_convert.gguf";
    int kills = 0;
    for (int attempt = 0; attempt < 5 && kills < 2; ++attempt)
        kills += killed_mid_write({"convert", "--random", big_config(), "-o", out, "-q"}, out);
    EXPECT_GE(kills, 1) << "never caught convert mid-write";
    // The leftover temporary is a truncated GGUF: refused with the tensor and the shortfall named.
    const bf::testing::Result r = bf::testing::bitflash("run -m " + out + ".tmp -p hi");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("runs past the end of the file"), std::string::npos) << r.err;
}

TEST(AtomicWrite, QuantizeKilledMidWriteLeavesNoFinalFile) {
    const std::string in = tmp() + "/quant_in.gguf", out = tmp() + "/killed_quant.gguf";
    ASSERT_EQ(wait_code(start({"convert", "--random", big_config(), "-o", in, "-q"})), 0)
        << slurp(tmp() + "/atomic_stderr.txt");
    int kills = 0;
    for (int attempt = 0; attempt < 5 && kills < 2; ++attempt)
        kills += killed_mid_write({"quantize", in, out, "f16"}, out);
    EXPECT_GE(kills, 1) << "never caught quantize mid-write";
}

TEST(AtomicWrite, WriteErrorRemovesTheTemporaryFile) {
    const std::string out = tmp() + "/too_big.gguf";
    fs::remove(out);
    const int code = wait_code(start({"convert", "--random", big_config(), "-o", out, "-q"}, /*file_limit=*/4u << 20));
    const std::string err = slurp(tmp() + "/atomic_stderr.txt");
    EXPECT_EQ(code, 1) << err;
    EXPECT_NE(err.find("writing"), std::string::npos) << err;
    EXPECT_FALSE(fs::exists(out));
    EXPECT_FALSE(fs::exists(out + ".tmp"));
}

}  // namespace
