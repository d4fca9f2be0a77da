// The subcommand table: names, one-line summaries and `bitflash help`.
#include "cli/commands.h"

namespace bf {

int cmd_convert(int argc, char** argv);
int cmd_logits(int argc, char** argv);
int cmd_run(int argc, char** argv);
int cmd_chat(int argc, char** argv);
int cmd_tokenize(int argc, char** argv);
int cmd_detokenize(int argc, char** argv);
int cmd_bench(int argc, char** argv);
int cmd_quantize(int argc, char** argv);
int cmd_serve(int argc, char** argv);
int cmd_eval(int argc, char** argv);
int cmd_perplexity(int argc, char** argv);
int cmd_imatrix(int argc, char** argv);

const std::vector<CliCommand>& cli_commands() {
    static const std::vector<CliCommand> table = {
        {"run", cmd_run, "generate a reply to one prompt (llama-cli style flags)"},
        {"chat", cmd_chat, "multi-turn chat on stdin/stdout, keeping the state between turns"},
        {"convert", cmd_convert, "Hugging Face checkpoint (or --random CONFIG) -> GGUF"},
        {"eval", cmd_eval, "accuracy on math problems (JSONL: problem, answer)"},
        {"quantize", cmd_quantize, "requantize a GGUF to another weight type (like llama-quantize)"},
        {"serve", cmd_serve, "OpenAI-compatible HTTP server"},
        {"bench", cmd_bench, "llama-bench style speed table, bandwidth share, peak RSS"},
        {"perplexity", cmd_perplexity,
         "perplexity of a text, KL divergence against a base model (llama-perplexity style)"},
        {"imatrix", cmd_imatrix, "importance matrix of a calibration text (llama-imatrix, legacy .dat format)"},
        {"logits", cmd_logits, "write the logits of every position of a token list"},
        {"tokenize", cmd_tokenize, "text on stdin -> token ids"},
        {"detokenize", cmd_detokenize, "token ids on stdin -> text"},
    };
    return table;
}

}  // namespace bf
