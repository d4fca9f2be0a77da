// Access rules (API key comparison, loopback addresses) and the graceful shutdown of `bitflash serve`:
// accepted requests finish, new connections are refused, a request still being read gets 503 + Retry-After,
// and requests past the grace period end with an error.
#include <arpa/inet.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include <chrono>
#include <future>
#include <string>
#include <thread>

#include "server/access.h"
#include "server_fixture.h"

namespace bf {
namespace {

using namespace bf::testing;
using namespace std::chrono_literals;

TEST(ServerAccess, ApiKeyMatchesOnlyTheExactKey) {
    EXPECT_TRUE(api_key_matches("s3cret-key", "s3cret-key"));
    EXPECT_FALSE(api_key_matches("s3cret-kex", "s3cret-key"));            // last byte
    EXPECT_FALSE(api_key_matches("t3cret-key", "s3cret-key"));            // first byte
    EXPECT_FALSE(api_key_matches("s3cret-ke", "s3cret-key"));             // a prefix
    EXPECT_FALSE(api_key_matches("s3cret-keys3cret-key", "s3cret-key"));  // the key twice (cycled comparison)
    EXPECT_FALSE(api_key_matches(std::string_view("s3cret-key\0", 11), "s3cret-key"));
    EXPECT_FALSE(api_key_matches("", "s3cret-key"));
    EXPECT_FALSE(api_key_matches("", ""));  // no key configured never matches (the server skips the check then)
    EXPECT_FALSE(api_key_matches("x", ""));
}

TEST(ServerAccess, LoopbackHosts) {
    for (const char* h : {"127.0.0.1", "127.1.2.3", "::1", "[::1]", "localhost"}) EXPECT_TRUE(is_loopback_host(h)) << h;
    for (const char* h : {"0.0.0.0", "::", "192.168.1.5", "10.0.0.1", "example.com", "128.0.0.1", "", "[::]"})
        EXPECT_FALSE(is_loopback_host(h)) << h;
}

int connect_local(int port) {
    const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(uint16_t(port));
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (::connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof(addr)) != 0) {
        ::close(fd);
        return -1;
    }
    return fd;
}

void send_all(int fd, const std::string& s) {
    ASSERT_EQ(::send(fd, s.data(), s.size(), MSG_NOSIGNAL), ssize_t(s.size()));
}

// Reads until the peer closes (or `until` appears); the whole response as text.
std::string read_response(int fd, const std::string& until = "") {
    std::string got;
    char buf[4096];
    for (;;) {
        const ssize_t n = ::recv(fd, buf, sizeof(buf), 0);
        if (n <= 0) break;
        got.append(buf, size_t(n));
        if (!until.empty() && got.find(until) != std::string::npos) break;
    }
    return got;
}

std::string http_post(const std::string& path, const std::string& body) {
    return "POST " + path + " HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\nContent-Type: application/json\r\n" +
           "Content-Length: " + std::to_string(body.size()) + "\r\n\r\n" + body;
}

// The SSE body of a chunked HTTP response: chunk sizes dropped.
std::string sse_of(const std::string& response) {
    const size_t head = response.find("\r\n\r\n");
    if (head == std::string::npos) return "";
    std::string out;
    for (size_t pos = head + 4;;) {
        const size_t eol = response.find("\r\n", pos);
        if (eol == std::string::npos) break;
        const size_t n = std::stoul(response.substr(pos, eol - pos), nullptr, 16);
        if (n == 0) break;
        out += response.substr(eol + 2, n);
        pos = eol + 2 + n + 2;
    }
    return out;
}

TEST(ServerShutdown, AcceptedRequestsFinishAndNewConnectionsAreRefused) {
    ApiServer s(options(2, 4096));  // 2000 tokens each: hundreds of milliseconds, still running at the signal
    const int port = s.start();
    s.load_model();
    const std::string body =
        json{{"prompt", "count"}, {"max_tokens", 2000}, {"ignore_eos", true}, {"stream", true}}.dump();
    // Two streams running (one per slot) and a third waiting in the queue, all accepted before the signal.
    std::vector<int> fds;
    for (int i = 0; i < 3; ++i) {
        fds.push_back(connect_local(port));
        ASSERT_GE(fds.back(), 0);
        send_all(fds.back(), http_post("/v1/completions", body));
    }
    std::vector<std::string> first(2);
    for (int i = 0; i < 2; ++i) first[i] = read_response(fds[i], "\"text\":\"");  // generating now
    // The third must be queued, not just sent, before the shutdown begins (else it is refused as new work).
    for (int i = 0; i < 5000 && s.scheduler()->in_flight() < 3; ++i) std::this_thread::sleep_for(1ms);
    EXPECT_GE(s.scheduler()->in_flight(), 1u);

    auto done = std::async(std::launch::async, [&] { return s.shutdown(60s); });
    while (!s.draining()) std::this_thread::sleep_for(1ms);
    std::this_thread::sleep_for(50ms);  // close_listener() follows draining_ at once
    EXPECT_EQ(connect_local(port), -1) << "a new connection was accepted after shutdown began";

    for (int i = 0; i < 3; ++i) {
        const std::string resp = (i < 2 ? first[i] : "") + read_response(fds[i]);
        ::close(fds[i]);
        ASSERT_NE(resp.find("HTTP/1.1 200"), std::string::npos) << resp.substr(0, 200);
        const SseResult r = parse_sse(sse_of(resp));
        EXPECT_TRUE(r.error.empty()) << r.error;
        ASSERT_TRUE(r.done) << "request " << i << " did not finish";
        ASSERT_FALSE(r.chunks.empty());
        EXPECT_EQ(r.chunks.back()["choices"][0]["finish_reason"], "length");
        EXPECT_EQ(r.chunks.back()["timings"]["predicted_n"], 2000);
    }
    EXPECT_TRUE(done.get());
}

TEST(ServerShutdown, RequestStillBeingReadGets503WithRetryAfter) {
    ApiServer s(options(1, 256));
    const int port = s.start();
    s.load_model();
    const int fd = connect_local(port);
    ASSERT_GE(fd, 0);
    send_all(fd, "GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n");  // headers not finished yet
    std::this_thread::sleep_for(100ms);                           // a worker thread is reading them
    auto done = std::async(std::launch::async, [&] { return s.shutdown(30s); });
    while (!s.draining()) std::this_thread::sleep_for(1ms);
    send_all(fd, "\r\n");
    const std::string resp = read_response(fd);
    ::close(fd);
    EXPECT_NE(resp.find("HTTP/1.1 503"), std::string::npos) << resp;
    EXPECT_NE(resp.find("Retry-After: "), std::string::npos) << resp;
    EXPECT_NE(resp.find("shutting down"), std::string::npos) << resp;
    EXPECT_TRUE(done.get());
}

TEST(ServerShutdown, RequestsPastTheGracePeriodEndWithAnError) {
    ApiServer s(options(1, 4096));
    const int port = s.start();
    s.load_model();
    const int fd = connect_local(port);
    ASSERT_GE(fd, 0);
    send_all(fd,
             http_post("/v1/completions",
                       json{{"prompt", "go on"}, {"max_tokens", -1}, {"ignore_eos", true}, {"stream", true}}.dump()));
    std::string resp = read_response(fd, "\"text\":\"");
    const auto t0 = std::chrono::steady_clock::now();
    EXPECT_TRUE(s.shutdown(0ms));
    EXPECT_LT(std::chrono::steady_clock::now() - t0, 20s);  // not the ~4096 tokens' time (a hang guard, not speed)
    resp += read_response(fd);
    ::close(fd);
    const SseResult r = parse_sse(sse_of(resp));
    EXPECT_FALSE(r.done) << "a request cut by shutdown must not end with [DONE]";
    ASSERT_FALSE(r.chunks.empty());
    // The error event is written when the connection is still open at that moment; in a slow (sanitizer)
    // build the server may close it first, and then the missing [DONE] is what tells the client.
    const std::string last = r.chunks.back().dump();
    if (last.find("\"error\"") != std::string::npos) EXPECT_NE(last.find("shutting down"), std::string::npos) << last;
}

}  // namespace
}  // namespace bf
