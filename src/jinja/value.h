// Dynamically typed Jinja values (undefined, none, bool, int, string, list, dict) with Python's printing.
#pragma once
#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

namespace bf::jinja {

struct Value;
using Array = std::vector<Value>;
using Object = std::map<std::string, Value>;

struct Value {
    enum class Kind { Undefined, None, Bool, Int, String, Array, Object } kind = Kind::Undefined;
    bool b = false;
    int64_t i = 0;
    std::string s;
    std::shared_ptr<Array> arr;
    std::shared_ptr<Object> obj;
    // Set by the factories: an upper bound on str()'s length and on the memory a deep copy takes (which the
    // renderer's limits charge), and the nesting of lists and dicts (str() and equal() recurse that deep).
    size_t bytes = 0;
    int depth = 0;

    static Value none() {
        Value v;
        v.kind = Kind::None;
        return v;
    }
    static Value boolean(bool x) {
        Value v;
        v.kind = Kind::Bool;
        v.b = x;
        return v;
    }
    static Value integer(int64_t x) {
        Value v;
        v.kind = Kind::Int;
        v.i = x;
        return v;
    }
    static Value string(std::string x) {
        Value v;
        v.kind = Kind::String;
        v.s = std::move(x);
        v.bytes = v.s.size();
        return v;
    }
    static Value array(Array a);
    static Value object(Object o);

    bool truthy() const {
        switch (kind) {
            case Kind::Undefined:
            case Kind::None: return false;
            case Kind::Bool: return b;
            case Kind::Int: return i != 0;
            case Kind::String: return !s.empty();
            case Kind::Array: return !arr->empty();
            case Kind::Object: return !obj->empty();
        }
        return false;
    }
    std::string str() const {
        switch (kind) {
            case Kind::Undefined: return "";
            case Kind::None: return "None";
            case Kind::Bool: return b ? "True" : "False";
            case Kind::Int: return std::to_string(i);
            case Kind::String: return s;
            case Kind::Array: {
                std::string out = "[";
                for (size_t k = 0; k < arr->size(); ++k) out += (k ? ", " : "") + (*arr)[k].repr();
                return out + "]";
            }
            case Kind::Object: {
                std::string out = "{";
                bool first = true;
                for (const auto& [key, v] : *obj) out += (first ? "'" : ", '") + key + "': " + v.repr(), first = false;
                return out + "}";
            }
        }
        return "";
    }
    std::string repr() const { return kind == Kind::String ? "'" + s + "'" : str(); }
};

// Jinja's ==: ints and bools compare by value, lists element-wise, dicts by identity.
bool equal(const Value& a, const Value& b);

}  // namespace bf::jinja
