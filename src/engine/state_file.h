// The saved-state file of a sequence (server slots' save/restore, `run`/`chat --prompt-cache`): magic,
// version, model fingerprint, the tokens the state has seen, every state tensor, the logits after the last
// token, and a CRC-32 of all of it. Written to a temporary file and renamed, so a reader never sees half.
#pragma once
#include <cstdint>
#include <string>
#include <vector>

#include "core/error.h"
#include "model/state.h"
#include "model/weights.h"

namespace bf {

// A file that is not a state file of this model and context: the message says why (another model,
// truncated, corrupted, another version or K/V type, longer than the context).
class StateFileError : public Error {
public:
    using Error::Error;
};

// Hash of the model's config, every tensor's name, type and shape, and some bytes of each tensor.
uint64_t model_fingerprint(const Model& m);

// CRC-32 (IEEE 802.3, as zlib's crc32) of n bytes, continuing from `crc`.
uint32_t crc32_update(uint32_t crc, const void* data, size_t n);

// Writes `state` (which has seen `tokens`) and `logits` (empty, or n_vocab values after the last token).
// Returns the file size. Throws bf::Error when the file cannot be written.
size_t write_state_file(const std::string& path, uint64_t fingerprint, const std::vector<int32_t>& tokens,
                        const SequenceState& state, const std::vector<float>& logits);

struct StateFileContents {
    std::vector<int32_t> tokens;
    std::vector<float> logits;  // empty when the file has none
    size_t file_bytes = 0;
};

// Reads a file written for the model with `fingerprint` into `state` (created for that model; its n_ctx
// and K/V type must accept the file). Throws StateFileError (and leaves `state` reset) for any bad file.
StateFileContents read_state_file(const std::string& path, uint64_t fingerprint, int64_t n_vocab, SequenceState& state);

}  // namespace bf
