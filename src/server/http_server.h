// `bitflash serve`'s HTTP side (cpp-httplib): routes, API key, body limit, SSE streaming. Listens before the
// model is loaded (/health answers 503 until then); handler threads only submit to the Scheduler and relay.
#pragma once
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "server/metrics.h"
#include "server/scheduler.h"

namespace bf {

class HttpServer;  // httplib::Server with access to its listening socket
}  // namespace bf
namespace httplib {
class Server;
}
namespace bf {

struct ServerOptions {
    std::string model_path;
    std::string host = "127.0.0.1";
    int port = 8080;            // 0: any free port (see ApiServer::port)
    std::string api_key;        // empty: no authentication
    std::string alias;          // model id in /v1/models and responses (default: the path)
    std::string chat_template;  // built-in name or Jinja file; empty: the model's own
    SchedulerOptions sched;
    size_t max_body = 1 << 20;   // bytes; larger bodies get 413
    int http_threads = 0;        // 0: n_slots + max_queue + 8 (a streaming request holds a thread)
    bool verbose = false;        // one log line per request on stderr
    std::string slot_save_path;  // directory of saved slot files; empty: slot save/restore is off
    bool check_tensors = false;  // scan the weights for NaN/Inf at load
};

class ApiServer {
public:
    explicit ApiServer(ServerOptions o);
    ~ApiServer();
    ApiServer(const ApiServer&) = delete;
    ApiServer& operator=(const ApiServer&) = delete;

    // Binds host:port and starts answering on a background thread. Returns the bound port. Throws bf::Error.
    int start();
    // Loads the model and starts the scheduler (the endpoints then leave the 503 "Loading model" state).
    // Throws bf::Error; the server keeps answering 503 then.
    void load_model();
    // Uses an already loaded model (tests), instead of load_model().
    void set_model(std::unique_ptr<ServedModel> m);
    void stop();
    // Graceful stop (SIGTERM): closes the listening socket (new connections are refused; requests on open
    // connections get 503 with Retry-After), lets every accepted request finish for up to `grace`, then
    // ends what is left with an error. False if a connection is still open after that (a client trickling
    // its headers, a reader that stopped reading): the caller should then exit without destroying the server.
    bool shutdown(std::chrono::milliseconds grace);
    bool draining() const { return draining_.load(); }
    int port() const { return port_; }
    bool loaded() const { return ready_.load(); }
    const Scheduler* scheduler() const { return ready_ ? sched_.get() : nullptr; }

private:
    void routes();
    void close_listener();                 // httplib's stop() (once): no new connections, open streams end
    void slot_routes(httplib::Server& s);  // /metrics, /slots and slot save/restore/erase (slot_routes.cpp)
    std::string model_id() const;

    ServerOptions opt_;
    std::unique_ptr<HttpServer> http_;
    std::unique_ptr<ServedModel> model_;
    std::unique_ptr<Scheduler> sched_;
    std::atomic<bool> ready_{false};
    RequestCounts counts_;
    std::thread listen_thread_;
    int port_ = 0;
    std::mutex stop_mu_;
    bool stopped_ = false;
    bool listener_closed_ = false;  // httplib's stop() or HttpServer::stop_accepting() called (under stop_mu_)
    std::atomic<bool> draining_{false};
    std::mutex listen_mu_;  // guards listen_done_
    std::condition_variable listen_cv_;
    bool listen_done_ = false;  // the accept loop ended and every HTTP worker thread was joined
};

}  // namespace bf
