// `bitflash perplexity` and `bitflash imatrix` as a user runs them, on the shipped f32 twin and its
// held-out text: the PPL against one computed here from `bitflash logits`, KLD of a model against itself,
// q8_0 against f32, and the refusals (short text, mismatched base file).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <regex>
#include <sstream>

#include "../common/cli_run.h"

namespace {

namespace fs = std::filesystem;
using bf::testing::bitflash;
using bf::testing::Result;
using bf::testing::slurp;
using bf::testing::tmp;

const std::string kText = std::string(BF_SOURCE_DIR) + "/models/heldout_text.txt";

// The shipped full-precision twin converted to `type` (once per process).
std::string twin(const std::string& type) {
    const std::string out = tmp() + "/twin-" + type + ".gguf";
    if (!fs::exists(out)) {
        const Result r = bitflash("convert " + std::string(BF_SOURCE_DIR) + "/models/sambay-math-f32twin -o " + out +
                                  " --outtype " + type + " -q");
        EXPECT_EQ(r.code, 0) << r.err;
    }
    return out;
}

double number(const std::string& text, const std::string& pattern) {
    std::smatch m;
    if (!std::regex_search(text, m, std::regex(pattern))) {
        ADD_FAILURE() << "no '" << pattern << "' in:\n" << text;
        return NAN;
    }
    return std::stod(m[1]);
}

TEST(PerplexityCli, MatchesPplFromLogitsCommand) {
    const std::string m = twin("f32"), ppl_args = " -c 64 --chunks 3 --parse-special -f " + kText;
    const Result r = bitflash("perplexity -m " + m + ppl_args);
    ASSERT_EQ(r.code, 0) << r.err;
    EXPECT_NE(r.out.find("[1]"), std::string::npos);
    EXPECT_NE(r.out.find("[3]"), std::string::npos);
    EXPECT_EQ(r.out.find("[4]"), std::string::npos);
    const double ppl = number(r.out, R"(Final estimate: PPL = ([\d.]+) \+/- [\d.]+)");

    // Independently: token ids from `tokenize`, logits of each chunk from `logits`, positions 32..62 scored.
    std::istringstream ids_text(bitflash("tokenize --special -m " + m, slurp(kText)).out);
    std::vector<int> ids;
    for (int v; ids_text >> v;) ids.push_back(v);
    ASSERT_GE(ids.size(), 192u);
    const int V = 384;
    double nll = 0;
    int n = 0;
    for (int c = 0; c < 3; ++c) {
        std::string list;
        for (int i = 0; i < 64; ++i) list += (i ? "," : "") + std::to_string(ids[size_t(c * 64 + i)]);
        ASSERT_EQ(bitflash("logits -m " + m + " --tokens " + list + " -o " + tmp() + "/l.f32").code, 0);
        const std::string raw = slurp(tmp() + "/l.f32");
        ASSERT_EQ(raw.size(), size_t(64 * V * 4));
        std::vector<float> l(size_t(64 * V));
        std::memcpy(l.data(), raw.data(), raw.size());
        for (int j = 32; j < 63; ++j) {
            const float* row = l.data() + j * V;
            double mx = row[0], s = 0;
            for (int k = 0; k < V; ++k) mx = std::max(mx, double(row[k]));
            for (int k = 0; k < V; ++k) s += std::exp(row[k] - mx);
            nll += mx + std::log(s) - row[ids[size_t(c * 64 + j + 1)]];
            ++n;
        }
    }
    EXPECT_EQ(n, 93);
    EXPECT_NEAR(ppl, std::exp(nll / n), 1e-4 * ppl + 1e-4);
}

TEST(PerplexityCli, KlDivergenceOfItselfIsZeroAndOfQ8IsSmall) {
    const std::string f32 = twin("f32"), base = tmp() + "/base.kld";
    const std::string args = " -c 128 --chunks 4 --parse-special -f " + kText;
    const Result made = bitflash("perplexity -m " + f32 + args + " --kl-divergence-base " + base);
    ASSERT_EQ(made.code, 0) << made.err;
    const double ppl = number(made.out, R"(Final estimate: PPL = ([\d.]+))");
    EXPECT_EQ(fs::file_size(base), 28u + 4 * 128 * 4 + 4 * 63 * (16 + 2 * 384u));  // header, ids, rows

    const Result self = bitflash("perplexity -m " + f32 + " --kl-divergence --kl-divergence-base " + base);
    ASSERT_EQ(self.code, 0) << self.err;
    EXPECT_NEAR(number(self.out, R"(Mean PPL\(base\) *: *([\d.]+))"), ppl, 1e-4 * ppl);
    EXPECT_NEAR(number(self.out, R"(Mean PPL\(Q\) *: *([\d.]+))"), ppl, 1e-4 * ppl);
    EXPECT_EQ(number(self.out, R"(Mean +KLD: *([\d.]+))"), 0.0);
    EXPECT_EQ(number(self.out, R"(Maximum KLD: *([\d.]+))"), 0.0);
    EXPECT_EQ(number(self.out, R"(Same top p: *([\d.]+))"), 100.0);

    // q8_0 against it (with the text too, which must tokenize to the file's tokens)
    const Result q8 =
        bitflash("perplexity -m " + twin("q8_0") + args + " --kl-divergence --kl-divergence-base " + base);
    ASSERT_EQ(q8.code, 0) << q8.err;
    const double kld = number(q8.out, R"(Mean +KLD: *([\d.]+))");
    EXPECT_GT(kld, 1e-5);
    EXPECT_LT(kld, 0.05);
    EXPECT_GT(number(q8.out, R"(Same top p: *([\d.]+))"), 90.0);
    EXPECT_NE(q8.out.find("99.0%   KLD:"), std::string::npos);
    EXPECT_NE(q8.out.find("RMS Δp"), std::string::npos);

    // refusals: another context, another text, another vocabulary, a file that is not a base file
    const Result ctx = bitflash("perplexity -m " + f32 + " -c 64 --kl-divergence --kl-divergence-base " + base);
    EXPECT_EQ(ctx.code, 1);
    EXPECT_NE(ctx.err.find("was made with -c 128"), std::string::npos) << ctx.err;
    std::ofstream(tmp() + "/other.txt") << std::string(2000, 'x');
    const Result text =
        bitflash("perplexity -m " + f32 + " -f " + tmp() + "/other.txt --kl-divergence --kl-divergence-base " + base);
    EXPECT_EQ(text.code, 1);
    EXPECT_NE(text.err.find("different text or tokenization"), std::string::npos) << text.err;
    const Result plain = bitflash("perplexity -m " + f32 + " -f " + kText +
                                  " -c 128 --chunks 4 --kl-divergence --kl-divergence-base " + base);
    EXPECT_EQ(plain.code, 1) << "without --parse-special the tokens differ";
    const Result junk = bitflash("perplexity -m " + f32 + " --kl-divergence --kl-divergence-base " + kText);
    EXPECT_EQ(junk.code, 1);
    EXPECT_NE(junk.err.find("not a bitflash KL-divergence base file"), std::string::npos) << junk.err;
    EXPECT_EQ(bitflash("perplexity -m " + f32 + " --kl-divergence").code, 1);
}

TEST(PerplexityCli, RefusesShortTextAndBadFlags) {
    const std::string m = twin("f32");
    std::ofstream(tmp() + "/short.txt") << "What is 2 + 2?";
    const Result r = bitflash("perplexity -m " + m + " -f " + tmp() + "/short.txt");
    EXPECT_EQ(r.code, 1);
    EXPECT_NE(r.err.find("needs at least 1024"), std::string::npos) << r.err;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
    EXPECT_EQ(bitflash("perplexity -m " + m).code, 1);  // no -f
    EXPECT_EQ(bitflash("perplexity -m " + m + " -f " + kText + " -c 2").code, 1);
    EXPECT_EQ(bitflash("perplexity -m " + m + " -f " + tmp() + "/absent.txt").code, 1);
}

TEST(ImatrixCli, WritesLegacyFileAndTheSamePpl) {
    const std::string m = twin("f32"), out = tmp() + "/imatrix.dat",
                      args = " -c 128 --chunks 2 --parse-special -f " + kText;
    const Result r = bitflash("imatrix -m " + m + args + " -o " + out);
    ASSERT_EQ(r.code, 0) << r.err;
    // running every layer on every token changes nothing in the scored logits
    const Result p = bitflash("perplexity -m " + m + args);
    EXPECT_NEAR(number(r.out, R"(PPL = ([\d.]+))"), number(p.out, R"(PPL = ([\d.]+))"), 1e-3);
    const std::string b = slurp(out);
    ASSERT_GE(b.size(), 4u);
    int32_t n;
    std::memcpy(&n, b.data(), 4);
    EXPECT_EQ(n, 38);  // 3 Mamba x 4, 2 SWA x 2, global 2, GMU 2, cross 2, 8 MLPs x 2 (tied head: none)
    EXPECT_NE(b.find("blk.7.attn_q.weight"), std::string::npos);
    EXPECT_EQ(b.substr(b.size() - kText.size()), kText);            // the dataset name closes the file
    EXPECT_EQ(bitflash("imatrix -m " + m + " -o " + out).code, 1);  // no text
}

TEST(ImatrixCli, QuantizeAndConvertTakeIt) {
    const std::string m = twin("f32"), dat = tmp() + "/imatrix-q.dat";
    const Result r = bitflash("imatrix -m " + m + " -c 128 --chunks 1 --parse-special -f " + kText + " -o " + dat);
    ASSERT_EQ(r.code, 0) << r.err;
    const std::string plain = tmp() + "/q-plain.gguf", weighted = tmp() + "/q-imat.gguf", conv = tmp() + "/c-imat.gguf";
    ASSERT_EQ(bitflash("quantize " + m + " " + plain + " q4_k_m -q").code, 0);
    const Result q = bitflash("quantize " + m + " " + weighted + " q4_k_m -q --imatrix " + dat);
    ASSERT_EQ(q.code, 0) << q.err;
    // the importance changes the chosen scales, and convert applies it as quantize does
    EXPECT_NE(slurp(plain), slurp(weighted));
    const Result c = bitflash("convert " + std::string(BF_SOURCE_DIR) + "/models/sambay-math-f32twin -o " + conv +
                              " --outtype q4_k_m -q --imatrix " + dat);
    ASSERT_EQ(c.code, 0) << c.err;
    EXPECT_EQ(slurp(conv).size(), slurp(weighted).size());
    const Result bad = bitflash("quantize " + m + " " + tmp() + "/q-bad.gguf q4_k_m -q --imatrix " + kText);
    EXPECT_EQ(bad.code, 1);
    EXPECT_FALSE(bad.err.empty());
}

}  // namespace
