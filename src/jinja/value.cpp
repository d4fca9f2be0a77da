// Jinja values: building lists and dicts (with their size and depth) and equality.
#include "jinja/value.h"

#include <algorithm>

namespace bf::jinja {

// sizeof(Value) per element bounds an element's separator and quotes in str() and its own footprint.
Value Value::array(Array a) {
    Value v;
    v.kind = Kind::Array;
    v.bytes = sizeof(Value) * a.size();
    for (const Value& x : a) v.bytes += x.bytes, v.depth = std::max(v.depth, x.depth + 1);
    v.arr = std::make_shared<Array>(std::move(a));
    return v;
}

Value Value::object(Object o) {
    Value v;
    v.kind = Kind::Object;
    for (const auto& [key, x] : o)
        v.bytes += sizeof(Value) + key.size() + x.bytes, v.depth = std::max(v.depth, x.depth + 1);
    v.obj = std::make_shared<Object>(std::move(o));
    return v;
}

bool equal(const Value& a, const Value& b) {
    using K = Value::Kind;
    if ((a.kind == K::Int || a.kind == K::Bool) && (b.kind == K::Int || b.kind == K::Bool))
        return (a.kind == K::Int ? a.i : a.b) == (b.kind == K::Int ? b.i : b.b);
    if (a.kind != b.kind) return false;
    switch (a.kind) {
        case K::Undefined:
        case K::None: return true;
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
