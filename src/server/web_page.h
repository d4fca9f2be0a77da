// The chat page `bitflash serve` answers at `/`: static files from src/server/web/, embedded at build time.
#pragma once
#include <cstddef>
#include <string>

namespace httplib {
class Server;
}

namespace bf {

// One embedded file (cmake/embed_files.cmake writes the table; `data` has size + 1 bytes, the last a NUL).
struct WebAsset {
    const char* name;  // file name under src/server/web/, e.g. "app.js"
    const unsigned char* data;
    size_t size;
};
extern const WebAsset kWebAssets[];
extern const size_t kNumWebAssets;

// The asset served at an URL path ("/" is index.html), or nullptr.
const WebAsset* find_web_asset(const std::string& path);
bool is_web_page_path(const std::string& path);
// The Content-Type of a file name by its extension.
const char* web_content_type(const std::string& name);

// GET routes for every asset, with a Content-Security-Policy that allows nothing from other origins.
void add_web_page_routes(httplib::Server& s);

}  // namespace bf
