// The server's operations routes: /metrics (Prometheus), /slots (llama-server's listing) and
// POST /slots/{id}?action=save|restore|erase with files under --slot-save-path (engine/state_file.h).
#include <httplib.h>

#include <cctype>
#include <chrono>
#include <filesystem>

#include "server/http_reply.h"
#include "server/http_server.h"

namespace bf {

namespace {

// A file name inside the save directory: letters, digits, '.', '_', '-', at most 128, no leading dot.
std::string checked_filename(const json& body) {
    if (!body.contains("filename") || !body["filename"].is_string())
        throw ApiError(400, "\"filename\" (a string) is required");
    const std::string f = body["filename"].get<std::string>();
    if (f.empty() || f.size() > 128 || f[0] == '.')
        throw ApiError(400, "\"filename\" must be 1 to 128 characters and not start with '.'");
    for (char c : f)
        if (!(std::isalnum(static_cast<unsigned char>(c)) || c == '.' || c == '_' || c == '-'))
            throw ApiError(400, "\"filename\" may only hold letters, digits, '.', '_' and '-'");
    return f;
}

double ms_since(std::chrono::steady_clock::time_point t0) {
    return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

void ApiServer::slot_routes(httplib::Server& s) {
    s.Get("/metrics", [this](const httplib::Request&, httplib::Response& res) {
        res.status = 200;
        res.set_content(prometheus_text(sched_->metrics(), counts_.snapshot(), opt_.sched.n_slots),
                        "text/plain; version=0.0.4; charset=utf-8");
    });

    s.Get("/slots", [this](const httplib::Request&, httplib::Response& res) {
        guarded(res, [&] {
            json slots = json::array();
            sched_->run_on_engine([&](Batcher& b) {
                for (int i = 0; i < b.options().n_slots; ++i) {
                    const Batcher::SlotInfo in = b.slot_info(i);
                    slots.push_back({{"id", i},
                                     {"n_ctx", b.options().n_ctx},
                                     {"is_processing", in.active},
                                     {"n_past", in.n_tokens},
                                     {"n_prompt_tokens", in.prompt_n},
                                     {"next_token", {{"n_decoded", in.predicted_n}}},
                                     {"n_checkpoints", in.n_checkpoints},
                                     {"checkpoint_bytes", in.checkpoint_bytes},
                                     {"state_bytes", in.state_bytes}});
                }
            });
            send_json(res, slots);
        });
    });

    s.Post(R"(/slots/([^/]*))", [this](const httplib::Request& req, httplib::Response& res) {
        guarded(res, [&] {
            if (opt_.slot_save_path.empty())
                throw ApiError(501, "slot save/restore is off (start the server with --slot-save-path DIR)",
                               "not_supported_error");
            const std::string id_text = req.matches[1];
            int id = -1;
            if (id_text.empty() || id_text.size() > 4 || id_text.find_first_not_of("0123456789") != std::string::npos ||
                (id = std::stoi(id_text)) >= opt_.sched.n_slots)
                throw ApiError(
                    400, strfmt("slot \"%s\" does not exist (ids 0 to %d)", id_text.c_str(), opt_.sched.n_slots - 1));
            const std::string action = req.get_param_value("action");
            const json body = req.body.empty() ? json::object() : parse_body(req.body, Endpoint::SlotAction);
            const auto t0 = std::chrono::steady_clock::now();
            json out = {{"id_slot", id}};
            auto busy_to_409 = [&](const std::function<void(Batcher&)>& f) {
                sched_->run_on_engine([&](Batcher& b) {
                    if (b.slot_info(id).active)
                        throw ApiError(409, strfmt("slot %d is busy", id), "invalid_request_error");
                    f(b);
                });
            };
            if (action == "save" || action == "restore") {
                const std::string name = checked_filename(body);
                const std::string path = (std::filesystem::path(opt_.slot_save_path) / name).string();
                out["filename"] = name;
                if (action == "save") {
                    busy_to_409([&](Batcher& b) {
                        out["n_written"] = b.save_slot(id, path);
                        out["n_saved"] = b.slot_info(id).n_tokens;
                    });
                    out["timings"] = {{"save_ms", ms_since(t0)}};
                } else {
                    if (!std::filesystem::exists(path)) throw ApiError(404, "no saved slot file named " + name);
                    busy_to_409([&](Batcher& b) {
                        try {
                            const StateFileContents c = b.restore_slot(id, path);
                            out["n_restored"] = c.tokens.size();
                            out["n_read"] = c.file_bytes;
                        } catch (const StateFileError& e) {
                            throw ApiError(400, e.what());
                        }
                    });
                    out["timings"] = {{"restore_ms", ms_since(t0)}};
                }
            } else if (action == "erase") {
                busy_to_409([&](Batcher& b) {
                    out["n_erased"] = b.slot_info(id).n_tokens;
                    b.erase_slot(id);
                });
            } else {
                throw ApiError(400, "action must be save, restore or erase");
            }
            send_json(res, out);
        });
    });
}

}  // namespace bf
