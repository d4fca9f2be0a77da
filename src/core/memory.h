// Memory helpers: dropping mapped file pages we no longer read, and the process's peak RSS.
#pragma once
#include <cstddef>

namespace bf {

// Tells the kernel the whole pages inside [p, p + n) of a read-only file mapping are not needed now
// (they are re-read from the file if touched again). Used after weights are repacked at load, so the
// file's copy does not stay resident next to the packed one.
void release_file_pages(const void* p, size_t n);

// Asks for transparent huge pages on the whole 2 MiB pages inside [p, p + n) (Linux with THP in "madvise"
// or "always" mode; a no-op elsewhere or when refused). Call before the memory is first written.
void advise_huge_pages(void* p, size_t n);

// Peak resident set size of this process so far, in bytes (0 if unknown).
size_t peak_rss_bytes();

// Starts the peak over from the current RSS (Linux /proc/self/clear_refs), so a large temporary buffer
// (bench's bandwidth probe) does not count in later peaks. False where that is not possible.
bool reset_peak_rss();

}  // namespace bf
