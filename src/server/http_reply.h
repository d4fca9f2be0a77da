// JSON answers of the server's handlers, and the one mapping of errors to OpenAI-style error responses.
#pragma once
#include <httplib.h>

#include <new>

#include "server/protocol.h"
#include "server/scheduler.h"

namespace bf {

// Seconds a client told 503 (loading, queue full, shutting down) should wait before retrying.
constexpr int kRetryAfterSeconds = 1;

inline void send_error(httplib::Response& res, int status, const std::string& msg, const std::string& type = "") {
    res.status = status;
    if (status == 503) res.set_header("Retry-After", std::to_string(kRetryAfterSeconds));
    res.set_content(dump_json(error_json(status, msg, type)), "application/json; charset=utf-8");
}

inline void send_json(httplib::Response& res, const json& j) {
    res.status = 200;
    res.set_content(dump_json(j), "application/json; charset=utf-8");
}

// Runs a handler body, mapping errors to responses.
template <class F>
void guarded(httplib::Response& res, F&& f) {
    try {
        f();
    } catch (const ApiError& e) {
        send_error(res, e.status(), e.what(), e.type());
    } catch (const Unavailable& e) {  // queue full, shutting down
        send_error(res, 503, e.what());
    } catch (const Error& e) {
        send_error(res, 400, e.what());
    } catch (const std::bad_alloc&) {
        send_error(res, 500, "out of memory");
    } catch (const std::exception& e) {
        send_error(res, 500, e.what());
    }
}

}  // namespace bf
