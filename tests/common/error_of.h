// Test helper: the message of the bf::Error a call throws ("" when it returns), for asserting on refusals.
#pragma once
#include <functional>
#include <string>

#include "core/error.h"

namespace bf::testing {

inline std::string error_of(const std::function<void()>& f) {
    try {
        f();
    } catch (const Error& e) {
        return e.what();
    }
    return "";
}

}  // namespace bf::testing
