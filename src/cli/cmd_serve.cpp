// bitflash serve: the OpenAI-compatible HTTP server (src/server/). Listens first, then loads the model, then
// waits for SIGINT / SIGTERM and shuts down gracefully (--shutdown-grace).
#include <pthread.h>
#include <signal.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>

#include "cli/args.h"
#include "cli/gen_common.h"
#include "core/error.h"
#include "engine/threads.h"
#include "server/access.h"
#include "server/http_server.h"

namespace bf {

int cmd_serve(int argc, char** argv) {
    ServerOptions o;
    int64_t port = 8080, slots = 4, ctx = 4096, threads = 0, batch = 512, max_queue = 128, max_body = 1 << 20,
            http_threads = 0, checkpoints = 8, checkpoint_mb = 1024, shutdown_grace = 25;
    bool no_batch = false, verbose = false;
    std::string ctk = kv_type_name(default_kv_type()), ctv = kv_type_name(default_kv_type());
    ArgParser p("bitflash serve -m MODEL.gguf [--host 127.0.0.1] [--port 8080] [-np SLOTS] [-c CTX] [options]",
                "OpenAI-compatible HTTP server with continuous batching (see docs/SERVER.md).");
    p.option({"-m", "--model"}, &o.model_path, "FNAME", "model GGUF (required)");
    p.option({"--host"}, &o.host, "ADDR", "address to listen on (default 127.0.0.1)");
    p.option({"--port"}, &port, "PORT", "port (default 8080; 0 = any free port, printed at start)");
    p.option({"-np", "--parallel"}, &slots, "N", "slots: requests generated at the same time (default 4)");
    p.option({"-c", "--ctx-size"}, &ctx, "N", "context size of each slot (default 4096)");
    p.option({"-t", "--threads"}, &threads, "N", "compute threads (default: all cores)");
    p.option({"-b", "--batch-size", "-ub", "--ubatch-size"}, &batch, "N", "tokens per batched step (default 512)");
    declare_cache_types(p, &ctk, &ctv);
    p.option({"--api-key"}, &o.api_key, "KEY", "require 'Authorization: Bearer KEY' (not for /health)");
    p.option({"-a", "--alias"}, &o.alias, "NAME", "model id shown by /v1/models (default: the path)");
    p.flag({"--check-tensors"}, &o.check_tensors, "scan the weights for NaN/Inf at load (slower load)");
    p.option({"--chat-template"}, &o.chat_template, "NAME|FILE",
             "phi4-mini, chatml, or a Jinja file (default: the model's)");
    p.option({"--max-queue"}, &max_queue, "N", "requests that may wait for a slot; more get 503 (default 128)");
    p.option({"--max-body"}, &max_body, "BYTES", "largest request body; larger gets 413 (default 1048576)");
    p.option({"--threads-http"}, &http_threads, "N", "HTTP threads (default: slots + max-queue + 8)");
    p.option({"--ctx-checkpoints"}, &checkpoints, "N",
             "state checkpoints kept per slot, at prompt ends (default 8; 0 = none)");
    p.option({"--ctx-checkpoint-mb"}, &checkpoint_mb, "MB", "memory for all slots' checkpoints (default 1024)");
    p.option({"--slot-save-path"}, &o.slot_save_path, "DIR",
             "directory for POST /slots/ID?action=save|restore (default: off)");
    p.option({"--shutdown-grace"}, &shutdown_grace, "SECONDS",
             "on SIGTERM/SIGINT, time accepted requests get to finish (default 25)");
    p.flag({"--no-batch"}, &no_batch, "run one slot per step (for comparing with batched steps)");
    p.flag({"-v", "--verbose"}, &verbose, "log every request");
    p.ignored({"-ngl", "--n-gpu-layers", "--gpu-layers"}, true, "accepted and ignored (CPU only)");
    p.ignored({"-fa", "--flash-attn"}, true, "accepted and ignored");
    p.ignored({"--jinja"}, false, "accepted and ignored (templates are always Jinja)");
    if (!p.parse(argc, argv)) return 0;
    if (o.model_path.empty()) fail("-m MODEL is required");
    if (port < 0 || port > 65535) fail(strfmt("--port %lld is not a valid port", (long long)port));
    if (slots < 1 || slots > 256) fail("-np must be between 1 and 256");
    if (ctx < 1) fail("-c must be >= 1");
    if (batch < 1) fail("-b must be >= 1");
    if (max_queue < 0 || max_queue > 100000) fail("--max-queue must be between 0 and 100000");
    if (checkpoints < 0 || checkpoints > 1024) fail("--ctx-checkpoints must be between 0 and 1024");
    if (checkpoint_mb < 0 || checkpoint_mb > (int64_t(1) << 30)) fail("--ctx-checkpoint-mb must be between 0 and 2^30");
    if (max_body < 1) fail("--max-body must be >= 1");
    if (shutdown_grace < 0 || shutdown_grace > 86400) fail("--shutdown-grace must be between 0 and 86400");
    if (http_threads < 0 || http_threads > 4096) fail("--threads-http must be between 0 and 4096");
    if (!o.slot_save_path.empty() && !std::filesystem::is_directory(o.slot_save_path))
        fail("--slot-save-path " + o.slot_save_path + " is not a directory");
    o.port = int(port);
    o.sched.n_slots = int(slots);
    o.sched.n_ctx = ctx;
    o.sched.kv_type = parse_cache_types(ctk, ctv);
    o.sched.batch = batch;
    o.sched.max_queue = size_t(max_queue);
    o.sched.no_batch = no_batch;
    o.sched.ctx_checkpoints = int(checkpoints);
    o.sched.checkpoint_bytes = size_t(checkpoint_mb << 20) / size_t(slots);
    o.max_body = size_t(max_body);
    o.http_threads = int(http_threads);
    o.verbose = verbose;
    set_engine_threads(int(threads));

    // Signals go to this thread only (sigwait below), never interrupting the workers.
    sigset_t sigs;
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGINT);
    sigaddset(&sigs, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &sigs, nullptr);

    if (o.api_key.empty() && !is_loopback_host(o.host))
        std::fprintf(stderr,
                     "serve: warning: listening on %s without --api-key: anyone who can reach this address can use "
                     "the server\n",
                     o.host.c_str());

    ApiServer server(o);
    const int bound = server.start();
    std::fprintf(stderr, "serve: listening on http://%s:%d (loading %s)\n", o.host.c_str(), bound,
                 o.model_path.c_str());
    try {
        server.load_model();
    } catch (...) {
        server.stop();
        throw;
    }
    std::fprintf(stderr, "serve: model loaded; %lld slots x %lld context%s\n", (long long)slots, (long long)ctx,
                 no_batch ? " (--no-batch)" : "");
    int sig = 0;
    sigwait(&sigs, &sig);
    const size_t open = server.scheduler() ? server.scheduler()->in_flight() : 0;
    std::fprintf(stderr,
                 "serve: signal %d, shutting down: new requests refused, %zu running or queued get up to %lld s\n", sig,
                 open, (long long)shutdown_grace);
    if (!server.shutdown(std::chrono::seconds(shutdown_grace))) {
        // A connection that never completes its request (trickled headers) cannot be joined; the work is done.
        std::fprintf(stderr, "serve: connections still open after the grace period; exiting without them\n");
        std::fflush(stderr);
        std::_Exit(0);
    }
    std::fprintf(stderr, "serve: stopped\n");
    return 0;
}

}  // namespace bf
