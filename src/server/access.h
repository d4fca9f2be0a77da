// Who may talk to `bitflash serve`: the API key check (constant time) and whether a listen address is loopback.
#pragma once
#include <string>
#include <string_view>

namespace bf {

// True when `given` equals `expected`. The time taken depends only on the lengths, never on where the first
// differing byte is, so a client cannot find the key byte by byte by timing 401s.
bool api_key_matches(std::string_view given, std::string_view expected);

// True for addresses only this machine can reach: 127.0.0.0/8, ::1 (also as [::1]) and "localhost".
// Anything else (0.0.0.0, ::, a LAN address, a host name) counts as reachable from the network.
bool is_loopback_host(const std::string& host);

}  // namespace bf
