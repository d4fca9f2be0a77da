// The engine's thread setting: how many threads the kernels use, so callers need no kernels/ header.
#pragma once

namespace bf {

// Threads for every kernel from now on; n <= 0: every core this process may use (core/thread_pool.h).
// Not to be called while a model step runs.
void set_engine_threads(int n);
int engine_threads();

}  // namespace bf
