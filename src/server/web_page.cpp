// Serves the embedded chat page: routes, Content-Type by extension, and the security headers.
#include "server/web_page.h"

#include <httplib.h>

namespace bf {

namespace {

bool ends_with(const std::string& s, const char* suffix) {
    const std::string t(suffix);
    return s.size() >= t.size() && s.compare(s.size() - t.size(), t.size(), t) == 0;
}

// Only this origin's scripts, styles and API; no inline script, no frames, no form posts elsewhere.
constexpr const char* kContentSecurityPolicy =
    "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
    "base-uri 'none'; form-action 'none'; frame-ancestors 'none'";

}  // namespace

const WebAsset* find_web_asset(const std::string& path) {
    const std::string name = path == "/" ? "index.html" : path.rfind('/', 0) == 0 ? path.substr(1) : std::string();
    for (size_t i = 0; i < kNumWebAssets; ++i)
        if (name == kWebAssets[i].name) return &kWebAssets[i];
    return nullptr;
}

bool is_web_page_path(const std::string& path) { return find_web_asset(path) != nullptr; }

const char* web_content_type(const std::string& name) {
    if (ends_with(name, ".html")) return "text/html; charset=utf-8";
    if (ends_with(name, ".js")) return "text/javascript; charset=utf-8";
    if (ends_with(name, ".css")) return "text/css; charset=utf-8";
    if (ends_with(name, ".svg")) return "image/svg+xml";
    return "application/octet-stream";
}

void add_web_page_routes(httplib::Server& s) {
    auto serve = [](const WebAsset* a) {
        return [a](const httplib::Request&, httplib::Response& res) {
            res.status = 200;
            res.set_header("Content-Security-Policy", kContentSecurityPolicy);
            res.set_header("X-Content-Type-Options", "nosniff");
            res.set_header("Cache-Control", "no-cache");
            res.set_content(reinterpret_cast<const char*>(a->data), a->size, web_content_type(a->name));
        };
    };
    if (const WebAsset* index = find_web_asset("/")) s.Get("/", serve(index));
    for (size_t i = 0; i < kNumWebAssets; ++i) {
        std::string pattern = "/";  // httplib routes are regular expressions: escape the dots
        for (const char* c = kWebAssets[i].name; *c; ++c)
            pattern += *c == '.' ? std::string("\\.") : std::string(1, *c);
        s.Get(pattern, serve(&kWebAssets[i]));
    }
}

}  // namespace bf
