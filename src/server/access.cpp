// The API key comparison and the loopback test of `bitflash serve` (access.h).
#include "server/access.h"

#include <arpa/inet.h>

namespace bf {

bool api_key_matches(std::string_view given, std::string_view expected) {
    // Every byte of `given` is compared (against `expected` cycled), and the length difference is folded into
    // the same accumulator: no early exit, no data-dependent branch. volatile keeps the loop from being cut short.
    volatile unsigned char diff = given.size() == expected.size() ? 0 : 1;
    const size_t n = expected.size();
    for (size_t i = 0; i < given.size(); ++i) {
        const unsigned char e = n ? static_cast<unsigned char>(expected[i % n]) : 0;
        diff = diff | (static_cast<unsigned char>(given[i]) ^ e);
    }
    return diff == 0 && !expected.empty();
}

bool is_loopback_host(const std::string& host) {
    if (host == "localhost") return true;
    std::string h = host;
    if (h.size() >= 2 && h.front() == '[' && h.back() == ']') h = h.substr(1, h.size() - 2);
    in_addr v4{};
    if (inet_pton(AF_INET, h.c_str(), &v4) == 1) return (ntohl(v4.s_addr) >> 24) == 127;
    in6_addr v6{};
    if (inet_pton(AF_INET6, h.c_str(), &v6) == 1) return IN6_IS_ADDR_LOOPBACK(&v6);
    return false;
}

}  // namespace bf
