// Routes of `bitflash serve` and their JSON / SSE bodies. Every handler turns bf::Error into an OpenAI-style
// error response, so no request can take the server down.
#include "server/http_server.h"

#include <signal.h>
#include <sys/socket.h>

#include <chrono>
#include <ctime>
#include <random>

#include <httplib.h>

#include "server/access.h"
#include "server/http_reply.h"
#include "server/logprobs_json.h"
#include "server/protocol.h"
#include "server/web_page.h"

namespace bf {

// Debian's cpp-httplib is a compiled library with a listen backlog of 5: a burst of clients (64 streams at once)
// overflows it, and their SYN retries add seconds. Linux lets listen() be called again to raise the backlog.
class HttpServer : public httplib::Server {
public:
    void raise_backlog(int n) {
        if (svr_sock_ != INVALID_SOCKET) ::listen(svr_sock_, n);
    }
    // Refuses new connections (Linux resets SYNs to a shut-down listening socket; the blocked accept() fails and
    // httplib closes the socket and joins its workers) without httplib's stop(): that marks the socket gone,
    // which ends every chunked stream at its next write, and accepted streams must finish first.
    void stop_accepting() {
        if (svr_sock_ != INVALID_SOCKET) ::shutdown(svr_sock_, SHUT_RDWR);
    }
    // After stop_accepting(): marks the (already closed) socket gone, so open streams and keep-alive loops end.
    // httplib's stop() would close the old descriptor number a second time.
    void forget_socket() { svr_sock_ = INVALID_SOCKET; }
};

namespace {

using Clock = std::chrono::steady_clock;

// POST routes whose body is a JSON object.
const char* const kJsonPostPaths[] = {"/v1/chat/completions", "/chat/completions", "/v1/completions",
                                      "/completions",         "/tokenize",         "/detokenize",
                                      "/apply-template"};

// A POST with neither Content-Length nor chunked encoding has no body; httplib would wait for one until the
// read timeout (30 s), so such a request to a JSON route is answered before the body is read.
bool post_without_length(const httplib::Request& req) {
    return req.method == "POST" && !req.has_header("Content-Length") &&
           req.get_header_value("Transfer-Encoding").find("chunked") == std::string::npos;
}

bool json_post_without_body(const httplib::Request& req) {
    if (!post_without_length(req)) return false;
    for (const char* p : kJsonPostPaths)
        if (req.path == p) return true;
    return false;
}

std::string make_id(const char* prefix) {
    static std::atomic<uint64_t> counter{0};
    thread_local std::mt19937_64 rng(std::random_device{}());
    return strfmt("%s%016llx%llu", prefix, (unsigned long long)rng(), (unsigned long long)counter.fetch_add(1));
}

// What a streaming response needs after the handler has returned.
struct StreamCtx {
    std::shared_ptr<GenStream> gs;
    bool chat = true, include_usage = false, started = false, finished = false;
    std::string id, model;
    int64_t created = 0;
    ChatDeltaSplitter split;
    std::unique_ptr<ToolCallStreamer> tools;  // when the request offers tools: content deltas go through it
    const Tokenizer* tok = nullptr;
    bool logprobs = false;
    size_t text_offset = 0;  // completions' text_offset of the next token

    json logprobs_json(const std::vector<TokenLogprob>& lps) {
        if (!logprobs) return nullptr;
        return chat ? chat_logprobs_json(lps, *tok) : text_logprobs_json(lps, *tok, text_offset);
    }

    json chunk(json choice) const {
        return {{"id", id},
                {"object", chat ? "chat.completion.chunk" : "text_completion"},
                {"created", created},
                {"model", model},
                {"system_fingerprint", "bitflash"},
                {"choices", json::array({std::move(choice)})}};
    }
    json text_chunk(const std::string& text) const {
        return chunk({{"index", 0}, {"text", text}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
    }
    json delta_chunk(json delta) const {
        return chunk({{"index", 0}, {"delta", std::move(delta)}, {"logprobs", nullptr}, {"finish_reason", nullptr}});
    }
};

bool sse_write(httplib::DataSink& sink, const std::string& payload) {
    const std::string s = "data: " + payload + "\n\n";
    return sink.write(s.data(), s.size());
}

}  // namespace

ApiServer::ApiServer(ServerOptions o) : opt_(std::move(o)), http_(std::make_unique<HttpServer>()) {}

ApiServer::~ApiServer() { stop(); }

std::string ApiServer::model_id() const { return opt_.alias.empty() ? opt_.model_path : opt_.alias; }

int ApiServer::start() {
    // A client that closes its socket must not kill the process when we write to it.
    ::signal(SIGPIPE, SIG_IGN);
    const size_t threads =
        opt_.http_threads > 0 ? size_t(opt_.http_threads) : size_t(opt_.sched.n_slots) + opt_.sched.max_queue + 8;
    http_->new_task_queue = [threads] { return new httplib::ThreadPool(threads); };
    http_->set_payload_max_length(opt_.max_body);
    http_->set_tcp_nodelay(true);  // SSE sends many small writes; Nagle + delayed ACK would add ~40 ms each
    http_->set_read_timeout(30, 0);
    http_->set_write_timeout(30, 0);
    routes();
    if (opt_.port < 0 || opt_.port > 65535) fail(strfmt("--port %d is not a valid port", opt_.port));
    if (opt_.port == 0) {
        port_ = http_->bind_to_any_port(opt_.host);
        if (port_ < 0) fail("cannot bind to " + opt_.host + " (any port)");
    } else {
        if (!http_->bind_to_port(opt_.host, opt_.port))
            fail(strfmt("cannot bind to %s:%d (in use, or not a local address)", opt_.host.c_str(), opt_.port));
        port_ = opt_.port;
    }
    http_->raise_backlog(1024);
    listen_thread_ = std::thread([this] {
        http_->listen_after_bind();  // returns after joining every worker thread, i.e. every open request
        {
            std::lock_guard<std::mutex> lk(listen_mu_);
            listen_done_ = true;
        }
        listen_cv_.notify_all();
    });
    // httplib's stop() does nothing before the loop runs: wait for it, so an early stop() cannot be lost.
    for (int i = 0; i < 5000 && !http_->is_running(); ++i) std::this_thread::sleep_for(std::chrono::milliseconds(1));
    return port_;
}

void ApiServer::load_model() { set_model(load_served_model(opt_.model_path, opt_.chat_template, opt_.check_tensors)); }

void ApiServer::set_model(std::unique_ptr<ServedModel> m) {
    if (ready_) fail("the model is already loaded");
    model_ = std::move(m);
    sched_ = std::make_unique<Scheduler>(*model_, opt_.sched);
    ready_ = true;
}

void ApiServer::close_listener() {
    std::lock_guard<std::mutex> lk(stop_mu_);
    if (!http_) return;
    if (!listener_closed_)
        http_->stop();
    else
        http_->forget_socket();  // shutdown() closed the listener already
    listener_closed_ = true;
}

void ApiServer::stop() {
    {
        std::lock_guard<std::mutex> lk(stop_mu_);
        if (stopped_) return;
        stopped_ = true;
    }
    // The scheduler first: it ends every waiting stream, so handler threads can finish and be joined.
    if (sched_) sched_->stop();
    close_listener();
    if (listen_thread_.joinable()) listen_thread_.join();
}

bool ApiServer::shutdown(std::chrono::milliseconds grace) {
    draining_ = true;
    {
        std::lock_guard<std::mutex> lk(stop_mu_);
        if (!listener_closed_ && http_) http_->stop_accepting();
        listener_closed_ = true;
    }
    auto workers_done = [&](std::chrono::milliseconds wait) {
        std::unique_lock<std::mutex> lk(listen_mu_);
        return listen_cv_.wait_for(lk, wait, [&] { return listen_done_; });
    };
    if (!workers_done(grace)) {
        // Out of time: end the remaining generations (their clients get an error) and give the handlers a
        // moment to write that and return.
        if (sched_) sched_->stop();
        close_listener();  // streams end at their next write, keep-alive connections close
        if (!workers_done(std::chrono::seconds(2))) return false;
    }
    stop();
    return true;
}

void ApiServer::routes() {
    httplib::Server& s = *http_;

    s.set_pre_routing_handler([this](const httplib::Request& req, httplib::Response& res) {
        if (draining_) {  // a request on a connection opened before shutdown began
            res.set_header("Connection", "close");
            send_error(res, 503, "the server is shutting down");
            return httplib::Server::HandlerResponse::Handled;
        }
        const bool health = req.path == "/health" || req.path == "/v1/health";
        // The chat page is static and holds no secret: it loads without the key (and asks for it) and while loading.
        if (req.method == "GET" && is_web_page_path(req.path)) return httplib::Server::HandlerResponse::Unhandled;
        if (!opt_.api_key.empty() && !health) {
            std::string key = req.get_header_value("Authorization");
            if (key.rfind("Bearer ", 0) == 0)
                key = key.substr(7);
            else
                key = req.get_header_value("X-Api-Key");
            if (!api_key_matches(key, opt_.api_key)) {
                send_error(res, 401, "Invalid API Key");
                return httplib::Server::HandlerResponse::Handled;
            }
        }
        if (json_post_without_body(req)) {
            send_error(res, 400, "the request has no body (no Content-Length): send a JSON object");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (post_without_length(req) && req.path.rfind("/slots/", 0) == 0) {  // would wait 30 s for a body
            send_error(res, 411, "POST /slots/{id} needs a Content-Length (0 for erase; curl: -d '')");
            return httplib::Server::HandlerResponse::Handled;
        }
        if (!ready_) {
            send_error(res, 503, "Loading model");
            return httplib::Server::HandlerResponse::Handled;
        }
        return httplib::Server::HandlerResponse::Unhandled;
    });
    // Errors httplib produces itself (no route, body too large, bad request line) get a JSON body too.
    s.set_error_handler(httplib::Server::HandlerWithResponse([](const httplib::Request&, httplib::Response& res) {
        if (!res.body.empty()) return httplib::Server::HandlerResponse::Unhandled;
        const int st = res.status;
        const std::string msg = st == 404   ? "File Not Found"
                                : st == 413 ? "the request body is too large"
                                : st == 405 ? "method not allowed"
                                            : strfmt("HTTP error %d", st);
        res.set_content(dump_json(error_json(st, msg)), "application/json; charset=utf-8");
        return httplib::Server::HandlerResponse::Handled;
    }));
    s.set_exception_handler([](const httplib::Request&, httplib::Response& res, std::exception_ptr) {
        send_error(res, 500, "internal error");
    });
    s.set_logger([this](const httplib::Request& req, const httplib::Response& res) {
        counts_.add(res.status);
        if (opt_.verbose)
            std::fprintf(stderr, "serve: %s %s -> %d\n", req.method.c_str(), req.path.c_str(), res.status);
    });

    add_web_page_routes(s);

    auto health = [](const httplib::Request&, httplib::Response& res) { send_json(res, {{"status", "ok"}}); };
    s.Get("/health", health);
    s.Get("/v1/health", health);

    auto models = [this](const httplib::Request&, httplib::Response& res) {
        const ModelConfig& c = model_->model.config;
        json meta = {{"vocab_type", 2},
                     {"n_vocab", c.n_vocab},
                     {"n_ctx_train", c.n_ctx_train},
                     {"n_embd", c.d_model},
                     {"size", model_->model.weight_bytes()}};
        json m = {{"id", model_id()},
                  {"object", "model"},
                  {"created", int64_t(std::time(nullptr))},
                  {"owned_by", "bitflash"},
                  {"meta", meta}};
        send_json(res, {{"object", "list"}, {"data", json::array({m})}});
    };
    s.Get("/v1/models", models);
    s.Get("/models", models);

    auto completion = [this](bool chat) {
        return [this, chat](const httplib::Request& req, httplib::Response& res) {
            guarded(res, [&] {
                const json body = parse_body(req.body, chat ? Endpoint::ChatCompletions : Endpoint::Completions);
                CompletionRequest cr = parse_completion_request(body, chat);
                const int64_t n_ctx = opt_.sched.n_ctx;
                GenParams gp;
                if (chat) {
                    std::string prompt;
                    try {
                        prompt = render_with_tools(
                            [&](const std::vector<ChatMessage>& m) { return render_prompt(*model_, m, true); },
                            cr.messages, cr.tools);
                    } catch (const Error& e) {
                        throw ApiError(400, std::string("the chat template failed: ") + e.what());
                    }
                    gp.prompt = model_->tok.encode(prompt, true);
                } else {
                    gp.prompt = cr.prompt_tokens.empty() ? model_->tok.encode(cr.prompt, true) : cr.prompt_tokens;
                }
                if (gp.prompt.empty()) throw ApiError(400, "the prompt is empty");
                if (int64_t(gp.prompt.size()) > n_ctx)
                    throw ApiError(400, strfmt("the prompt (%zu tokens) exceeds the context size (%lld)",
                                               gp.prompt.size(), (long long)n_ctx));
                gp.sampler = cr.sampler;
                if (gp.sampler.repeat_last_n < 0) gp.sampler.repeat_last_n = int32_t(n_ctx);
                gp.max_tokens = cr.max_tokens < 0 ? -1 : std::min(cr.max_tokens, n_ctx);  // clamp absurd values
                gp.stop = cr.stop;
                gp.ignore_eos = cr.ignore_eos;
                gp.grammar = cr.grammar;
                gp.n_logprobs = cr.n_logprobs;

                auto ctx = std::make_shared<StreamCtx>();
                ctx->chat = chat;
                ctx->include_usage = cr.include_usage;
                ctx->id = make_id(chat ? "chatcmpl-" : "cmpl-");
                ctx->model = model_id();
                ctx->created = int64_t(std::time(nullptr));
                ctx->tok = &model_->tok;
                ctx->logprobs = cr.n_logprobs >= 0;
                if (cr.tools.active()) ctx->tools = std::make_unique<ToolCallStreamer>(cr.tools.names());
                ctx->gs = sched_->submit(std::move(gp));

                if (!cr.stream) {
                    std::string text;
                    std::vector<TokenLogprob> lps;
                    GenEvent ev;
                    for (;;) {
                        if (!ctx->gs->next(ev, std::chrono::milliseconds(1000))) continue;
                        lps.insert(lps.end(), ev.logprobs.begin(), ev.logprobs.end());
                        if (ev.done) break;
                        text += ev.text;
                    }
                    if (!ev.error.empty()) throw ApiError(500, ev.error);
                    json choice = {{"index", 0}, {"logprobs", ctx->logprobs_json(lps)}};
                    bool calls = false;
                    if (chat) {
                        choice["message"] = chat_message_json(text);
                        calls = attach_tool_calls(choice["message"], cr.tools);
                    } else {
                        choice["text"] = text;
                    }
                    choice["finish_reason"] = finish_reason_name(ev.finish, calls);
                    send_json(res, {{"id", ctx->id},
                                    {"object", chat ? "chat.completion" : "text_completion"},
                                    {"created", ctx->created},
                                    {"model", ctx->model},
                                    {"system_fingerprint", "bitflash"},
                                    {"choices", json::array({choice})},
                                    {"usage", usage_json(ev.timings)},
                                    {"timings", timings_json(ev.timings)}});
                    return;
                }
                res.set_header("Cache-Control", "no-cache");
                res.set_chunked_content_provider(
                    "text/event-stream",
                    [ctx](size_t, httplib::DataSink& sink) {
                        auto fail_stream = [&] {
                            ctx->gs->cancel();
                            return false;
                        };
                        if (ctx->finished) return false;
                        if (!ctx->started) {
                            ctx->started = true;
                            const json first = ctx->chat ? ctx->delta_chunk({{"role", "assistant"}, {"content", ""}})
                                                         : ctx->text_chunk("");
                            if (!sse_write(sink, dump_json(first))) return fail_stream();
                        }
                        GenEvent ev;
                        while (!ctx->gs->next(ev, std::chrono::milliseconds(200)))
                            if (!sink.is_writable()) return fail_stream();
                        std::vector<json> out;
                        auto add_text = [&](const std::vector<json>& deltas) {
                            for (const auto& d : ctx->tools ? ctx->tools->route(deltas) : deltas)
                                out.push_back(ctx->delta_chunk(d));
                        };
                        if (ctx->chat)
                            add_text(ctx->split.push(ev.text));
                        else if (!ev.text.empty() || !ev.logprobs.empty())
                            out.push_back(ctx->text_chunk(ev.text));
                        if (!ev.logprobs.empty() && ctx->logprobs) {  // on this event's first chunk
                            if (out.empty()) out.push_back(ctx->delta_chunk({{"content", ""}}));
                            out.front()["choices"][0]["logprobs"] = ctx->logprobs_json(ev.logprobs);
                        }
                        if (ev.done) {
                            if (ctx->chat) add_text(ctx->split.flush());
                            if (ctx->tools)
                                for (const auto& d : ctx->tools->flush()) out.push_back(ctx->delta_chunk(d));
                            const bool calls = ctx->tools && ctx->tools->n_calls() > 0;
                            if (!ev.error.empty()) {
                                out.push_back(error_json(500, ev.error));
                            } else {
                                json last = ctx->chat
                                                ? ctx->chunk({{"index", 0},
                                                              {"delta", json::object()},
                                                              {"logprobs", nullptr},
                                                              {"finish_reason", finish_reason_name(ev.finish, calls)}})
                                                : ctx->chunk({{"index", 0},
                                                              {"text", ""},
                                                              {"logprobs", nullptr},
                                                              {"finish_reason", finish_reason_name(ev.finish)}});
                                last["timings"] = timings_json(ev.timings);
                                out.push_back(std::move(last));
                                if (ctx->include_usage) {
                                    json u = ctx->chunk(json());
                                    u["choices"] = json::array();
                                    u["usage"] = usage_json(ev.timings);
                                    out.push_back(std::move(u));
                                }
                            }
                        }
                        for (const auto& j : out)
                            if (!sse_write(sink, dump_json(j))) return fail_stream();
                        if (ev.done) {
                            ctx->finished = true;
                            if (ev.error.empty() && !sse_write(sink, "[DONE]")) return fail_stream();
                            sink.done();
                        }
                        return true;
                    },
                    [ctx](bool) { ctx->gs->cancel(); });  // no-op when finished; frees the slot otherwise
            });
        };
    };
    s.Post("/v1/chat/completions", completion(true));
    s.Post("/chat/completions", completion(true));
    s.Post("/v1/completions", completion(false));
    s.Post("/completions", completion(false));

    s.Post("/tokenize", [this](const httplib::Request& req, httplib::Response& res) {
        guarded(res, [&] {
            const json body = parse_body(req.body, Endpoint::Tokenize);
            const std::string content = get_string(body, "content", true);
            (void)get_bool(body, "add_special");  // validated; Phi adds no BOS/EOS
            const bool parse_special = get_bool(body, "parse_special").value_or(true);
            const bool with_pieces = get_bool(body, "with_pieces").value_or(false);
            const auto ids = model_->tok.encode(content, parse_special);
            json tokens = json::array();
            for (int32_t id : ids) {
                if (!with_pieces) {
                    tokens.push_back(id);
                    continue;
                }
                const std::string piece = model_->tok.token_to_piece(id);
                json p = json::array();
                if (is_valid_utf8(piece))
                    p = piece;
                else
                    for (unsigned char c : piece) p.push_back(int(c));
                tokens.push_back({{"id", id}, {"piece", p}});
            }
            send_json(res, {{"tokens", tokens}});
        });
    });
    s.Post("/detokenize", [this](const httplib::Request& req, httplib::Response& res) {
        guarded(res, [&] {
            const json body = parse_body(req.body, Endpoint::Detokenize);
            const auto ids = get_token_list(body, "tokens", model_->model.config.n_vocab);
            send_json(res, {{"content", model_->tok.decode(ids)}});
        });
    });
    s.Post("/apply-template", [this](const httplib::Request& req, httplib::Response& res) {
        guarded(res, [&] {
            const json body = parse_body(req.body, Endpoint::ApplyTemplate);
            const auto msgs = parse_messages(body);
            std::string prompt;
            try {
                auto text = [&](int32_t id) { return id >= 0 ? model_->tok.token_to_piece(id) : std::string(); };
                prompt = render_chat(model_->chat_template, msgs, true, text(model_->tok.bos_id()),
                                     text(model_->tok.eos_id()));
            } catch (const Error& e) {
                throw ApiError(400, std::string("the chat template failed: ") + e.what());
            }
            send_json(res, {{"prompt", prompt}});
        });
    });

    slot_routes(s);

    // Known routes with the wrong method: 405 rather than 404.
    auto not_allowed = [](const httplib::Request&, httplib::Response& res) {
        send_error(res, 405, "method not allowed");
    };
    for (const char* p : kJsonPostPaths) {
        s.Get(p, not_allowed);
        s.Put(p, not_allowed);
        s.Delete(p, not_allowed);
    }
    for (const char* p : {"/health", "/v1/health", "/v1/models", "/models", "/metrics", "/slots"}) {
        s.Post(p, not_allowed);
        s.Put(p, not_allowed);
        s.Delete(p, not_allowed);
    }
}

}  // namespace bf
