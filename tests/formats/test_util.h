// Test helpers for the formats tests: temp dirs, files, and a hand-rolled little-endian byte builder
// that is deliberately independent of GgufWriter (so it can serve as the oracle for both directions).
#pragma once
#include <stdlib.h>
#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

namespace bf::test {

struct TempDir {
    std::string path;
    TempDir() {
        std::string tmpl = (std::filesystem::temp_directory_path() / "bf_formats_XXXXXX").string();
        char* p = mkdtemp(tmpl.data());
        if (!p) throw std::runtime_error("mkdtemp failed");
        path = p;
    }
    ~TempDir() {
        std::error_code ec;
        std::filesystem::remove_all(path, ec);
    }
    std::string file(const std::string& name) const { return path + "/" + name; }
};

inline void write_file(const std::string& path, const std::vector<uint8_t>& b) {
    std::ofstream f(path, std::ios::binary);
    f.write(reinterpret_cast<const char*>(b.data()), std::streamsize(b.size()));
}

inline std::vector<uint8_t> read_file(const std::string& path) {
    std::ifstream f(path, std::ios::binary);
    return std::vector<uint8_t>((std::istreambuf_iterator<char>(f)), std::istreambuf_iterator<char>());
}

struct Bytes {
    std::vector<uint8_t> b;
    template <typename T>
    Bytes& put(T x) {
        uint8_t tmp[sizeof(T)];
        std::memcpy(tmp, &x, sizeof(T));
        b.insert(b.end(), tmp, tmp + sizeof(T));
        return *this;
    }
    Bytes& u8(uint8_t x) { return put(x); }
    Bytes& u32(uint32_t x) { return put(x); }
    Bytes& u64(uint64_t x) { return put(x); }
    Bytes& i32(int32_t x) { return put(x); }
    Bytes& f32(float x) { return put(x); }
    Bytes& raw(const std::string& s) {
        b.insert(b.end(), s.begin(), s.end());
        return *this;
    }
    Bytes& raw(const std::vector<uint8_t>& v) {
        b.insert(b.end(), v.begin(), v.end());
        return *this;
    }
    Bytes& str(const std::string& s) { return u64(s.size()).raw(s); }
    Bytes& pad_to(size_t a) {
        while (b.size() % a) b.push_back(0);
        return *this;
    }
    size_t size() const { return b.size(); }
};

// Header of a GGUF file: magic, version, counts.
inline Bytes gguf_header(uint64_t n_tensors, uint64_t n_kv, uint32_t version = 3) {
    Bytes b;
    b.raw("GGUF").u32(version).u64(n_tensors).u64(n_kv);
    return b;
}

// Tensor info record.
inline Bytes& tensor_info(Bytes& b, const std::string& name, std::vector<uint64_t> ne, uint32_t type, uint64_t off) {
    b.str(name).u32(uint32_t(ne.size()));
    for (auto x : ne) b.u64(x);
    return b.u32(type).u64(off);
}

// A small valid GGUF (alignment 32): two kvs and two tensors; the last tensor ends exactly at EOF so
// every strict prefix is invalid.
//   kv general.architecture = "test", kv answer = u32 42
//   tensor "a": f32 ne=[4,2] (32 bytes) values 0..7 at offset 0
//   tensor "b": f16 ne=[8] (16 bytes) at offset 32, halves 0x3c00 (1.0) x 8
inline std::vector<uint8_t> small_gguf() {
    Bytes b = gguf_header(2, 2);
    b.str("general.architecture").u32(8).str("test");
    b.str("answer").u32(4).u32(42);
    tensor_info(b, "a", {4, 2}, 0, 0);
    tensor_info(b, "b", {8}, 1, 32);
    b.pad_to(32);
    for (int k = 0; k < 8; ++k) b.f32(float(k));
    for (int k = 0; k < 8; ++k) b.put<uint16_t>(0x3c00);
    return b.b;
}

// Safetensors file from a JSON header text and the data section.
inline std::vector<uint8_t> make_safetensors(const std::string& header, const std::vector<uint8_t>& data) {
    Bytes b;
    b.u64(header.size()).raw(header).raw(data);
    return b.b;
}

// An anonymous in-memory file holding bytes, opened through /proc so the file-based readers see it.
struct MemFile {
    int fd = -1;
    std::string path;
    explicit MemFile(const std::vector<uint8_t>& bytes) {
        fd = memfd_create("bf_fuzz", MFD_CLOEXEC);
        if (fd < 0) throw std::runtime_error("memfd_create failed");
        size_t off = 0;
        while (off < bytes.size()) {
            ssize_t w = ::write(fd, bytes.data() + off, bytes.size() - off);
            if (w <= 0) throw std::runtime_error("memfd write failed");
            off += size_t(w);
        }
        path = "/proc/self/fd/" + std::to_string(fd);
    }
    ~MemFile() {
        if (fd >= 0) ::close(fd);
    }
};

}  // namespace bf::test
