// Equality of Jinja values.
#include "jinja/value.h"

namespace bf::jinja {

bool equal(const Value& a, const Value& b) {
    using K = Value::Kind;
    if ((a.kind == K::Int || a.kind == K::Bool) && (b.kind == K::Int || b.kind == K::Bool))
        return (a.kind == K::Int ? a.i : a.b) == (b.kind == K::Int ? b.i : b.b);
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case K::Undefined: case K::None: return true;
        case K::String: return a.s == b.s;
        case K::Array:
            if (a.arr->size() != b.arr->size()) return false;
            for (size_t k = 0; k < a.arr->size(); ++k)
                if (!equal((*a.arr)[k], (*b.arr)[k])) return false;
            return true;
        case K::Object: return a.obj == b.obj;
        default: return false;
    }
}

}  // namespace bf::jinja
