// The engine's thread setting, forwarded to the kernels' pool.
#include "engine/threads.h"

#include "kernels/compute.h"

namespace bf {

void set_engine_threads(int n) { set_num_threads(n); }
int engine_threads() { return num_threads(); }

}  // namespace bf
