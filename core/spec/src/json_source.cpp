#include "json_source.h"

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <unordered_set>

namespace moe::spec::detail {
namespace {

class Parser {
public:
    Parser(const std::string& text, JsonSource& out) : m_s(text), m_out(out) {}

    void run() {
        if (m_s.size() > kMaxProjectBytes) {
            fail("the text is " + std::to_string(m_s.size()) + " bytes; a project is at most " + std::to_string(kMaxProjectBytes) + " bytes (64 MiB)");
            return;
        }
        // A UTF-8 byte order mark is allowed before the document (RFC 8259, section 8.1) and skipped.
        if (m_s.compare(0, 3, "\xEF\xBB\xBF") == 0) m_i = 3;
        skipWs();
        m_out.root = value("");
        if (!failed()) {
            skipWs();
            if (m_i < m_s.size()) fail("unexpected text after the end of the JSON document");
        }
    }

private:
    const std::string& m_s;
    JsonSource& m_out;
    size_t m_i = 0;
    int m_line = 1;
    int m_col = 1;
    int m_depth = 0;

    bool failed() const { return !m_out.error.empty(); }
    SourcePos pos() const { return {m_line, m_col}; }

    void fail(const std::string& msg) { failAt(pos(), msg); }
    void failAt(SourcePos at, const std::string& msg) {
        if (failed()) return;
        m_out.error = msg;
        m_out.errorPos = at;
    }
    char peek() const { return m_i < m_s.size() ? m_s[m_i] : '\0'; }
    void advance() {
        if (m_i >= m_s.size()) return;
        if (m_s[m_i] == '\n') {
            ++m_line;
            m_col = 1;
        } else if ((static_cast<unsigned char>(m_s[m_i]) & 0xC0) != 0x80) {
            ++m_col;  // count UTF-8 code points, not bytes
        }
        ++m_i;
    }
    void skipWs() {
        while (m_i < m_s.size() && (m_s[m_i] == ' ' || m_s[m_i] == '\t' || m_s[m_i] == '\n' || m_s[m_i] == '\r')) advance();
    }
    // What stands at the current position, quoted so that the message stays valid UTF-8: a whole
    // character when it is one, else the byte in hex.
    std::string describeHere() const {
        if (m_i >= m_s.size()) return "the end of the file";
        const unsigned char c = static_cast<unsigned char>(m_s[m_i]);
        if (c >= 0x20 && c < 0x7F) return std::string("'") + static_cast<char>(c) + "'";
        if (c >= 0x80)
            if (const size_t n = utf8Length(); n > 0) return "'" + m_s.substr(m_i, n) + "'";
        char buf[48];
        std::snprintf(buf, sizeof buf, "the byte 0x%02X%s", c, c >= 0x80 ? " (not valid UTF-8)" : "");
        return buf;
    }

    nlohmann::ordered_json value(const std::string& path) {
        if (++m_depth > kMaxDepth) {
            fail("nesting is deeper than " + std::to_string(kMaxDepth) + " levels");
            return {};
        }
        skipWs();
        m_out.positions[path] = pos();
        nlohmann::ordered_json v;
        const char c = peek();
        if (c == '{') v = object(path);
        else if (c == '[') v = array(path);
        else if (c == '"') v = string();
        else if (c == '-' || (c >= '0' && c <= '9')) v = number();
        else if (literal("true")) v = true;
        else if (literal("false")) v = false;
        else if (literal("null")) v = nullptr;
        else fail("expected a value (object, array, string, number, true, false or null) but found " + describeHere());
        --m_depth;
        return v;
    }

    bool literal(const char* word) {
        const size_t n = std::char_traits<char>::length(word);
        if (m_s.compare(m_i, n, word) != 0) return false;
        for (size_t k = 0; k < n; ++k) advance();
        return true;
    }

    nlohmann::ordered_json object(const std::string& path) {
        nlohmann::ordered_json obj = nlohmann::ordered_json::object();
        // The ordered object's own lookup is linear: with it, duplicate checks were quadratic in
        // the number of keys (minutes for 300,000).
        std::unordered_set<std::string> seen;
        advance();  // {
        skipWs();
        if (peek() == '}') {
            advance();
            return obj;
        }
        while (!failed()) {
            skipWs();
            if (peek() != '"') {
                fail("expected a key in double quotes but found " + describeHere());
                break;
            }
            const SourcePos keyPos = pos();
            const std::string key = string();
            if (failed()) break;
            const std::string child = path.empty() ? key : path + "." + key;
            if (!seen.insert(key).second) {
                m_out.errorPos = keyPos;
                m_out.error = "key \"" + key + "\" appears twice in the same object";
                break;
            }
            m_out.keyPositions[child] = keyPos;
            skipWs();
            if (peek() != ':') {
                fail("expected ':' after the key \"" + key + "\" but found " + describeHere());
                break;
            }
            advance();
            // Appended without the ordered map's linear search: `seen` has already ruled out a duplicate.
            auto& members = obj.get_ref<nlohmann::ordered_json::object_t&>();
            members.nlohmann::ordered_json::object_t::Container::emplace_back(key, value(child));
            if (failed()) break;
            skipWs();
            if (peek() == ',') {
                advance();
                skipWs();
                if (peek() == '}') {
                    fail("a trailing comma before '}' is not allowed in JSON");
                    break;
                }
                continue;
            }
            if (peek() == '}') {
                advance();
                break;
            }
            fail("expected ',' or '}' after the value of \"" + key + "\" but found " + describeHere());
        }
        return obj;
    }

    nlohmann::ordered_json array(const std::string& path) {
        nlohmann::ordered_json arr = nlohmann::ordered_json::array();
        advance();  // [
        skipWs();
        if (peek() == ']') {
            advance();
            return arr;
        }
        while (!failed()) {
            if (arr.size() >= kMaxArrayLength) {
                fail("an array longer than " + std::to_string(kMaxArrayLength) + " elements");
                break;
            }
            const std::string child = path + "[" + std::to_string(arr.size()) + "]";
            arr.push_back(value(child));
            if (failed()) break;
            skipWs();
            if (peek() == ',') {
                advance();
                skipWs();
                if (peek() == ']') {
                    fail("a trailing comma before ']' is not allowed in JSON");
                    break;
                }
                continue;
            }
            if (peek() == ']') {
                advance();
                break;
            }
            fail("expected ',' or ']' in the array but found " + describeHere());
        }
        return arr;
    }

    static void putUtf8(std::string& out, unsigned cp) {
        if (cp < 0x80) out += static_cast<char>(cp);
        else if (cp < 0x800) {
            out += static_cast<char>(0xC0 | (cp >> 6));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else if (cp < 0x10000) {
            out += static_cast<char>(0xE0 | (cp >> 12));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        } else {
            out += static_cast<char>(0xF0 | (cp >> 18));
            out += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
            out += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
            out += static_cast<char>(0x80 | (cp & 0x3F));
        }
    }

    static std::string hex(unsigned cp) {
        char buf[8];
        std::snprintf(buf, sizeof buf, "%04X", cp);
        return buf;
    }

    bool hex4(unsigned& cp) {
        cp = 0;
        for (int k = 0; k < 4; ++k) {
            const char h = peek();
            if (!std::isxdigit(static_cast<unsigned char>(h))) {
                fail("\\u must be followed by four hex digits");
                return false;
            }
            cp = cp * 16 + static_cast<unsigned>(std::isdigit(static_cast<unsigned char>(h)) ? h - '0' : (std::tolower(h) - 'a' + 10));
            advance();
        }
        return true;
    }

    // Length of the well-formed UTF-8 sequence starting here, or 0 when it is not one.
    size_t utf8Length() const {
        const auto b = [&](size_t k) { return m_i + k < m_s.size() ? static_cast<unsigned char>(m_s[m_i + k]) : 0u; };
        const unsigned c = b(0);
        size_t n = 0;
        unsigned min = 0;
        if (c >= 0xC2 && c <= 0xDF) n = 2, min = 0x80;
        else if (c >= 0xE0 && c <= 0xEF) n = 3, min = 0x800;
        else if (c >= 0xF0 && c <= 0xF4) n = 4, min = 0x10000;
        else return 0;
        unsigned cp = c & (0x7F >> n);
        for (size_t k = 1; k < n; ++k) {
            if ((b(k) & 0xC0) != 0x80) return 0;
            cp = (cp << 6) | (b(k) & 0x3F);
        }
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        return n;
    }

    std::string string() {
        std::string out;
        advance();  // "
        while (!failed()) {
            const char c = peek();
            if (m_i >= m_s.size()) {
                fail("the string is not closed (missing '\"')");
                break;
            }
            if (c == '"') {
                advance();
                break;
            }
            if (out.size() >= kMaxStringBytes) {
                fail("a string longer than " + std::to_string(kMaxStringBytes) + " bytes (1 MiB)");
                break;
            }
            if (static_cast<unsigned char>(c) < 0x20) {
                fail("control characters (such as a raw newline) are not allowed inside a string");
                break;
            }
            if (c == '\\') {
                const SourcePos escapeAt = pos();
                advance();
                const char e = peek();
                advance();
                switch (e) {
                    case '"': out += '"'; break;
                    case '\\': out += '\\'; break;
                    case '/': out += '/'; break;
                    case 'b': out += '\b'; break;
                    case 'f': out += '\f'; break;
                    case 'n': out += '\n'; break;
                    case 'r': out += '\r'; break;
                    case 't': out += '\t'; break;
                    case 'u': {
                        unsigned cp = 0;
                        if (!hex4(cp)) break;
                        // Surrogates only come in pairs: a lone one is no character and has no
                        // UTF-8 form, so it is an error here rather than bad text later.
                        if (cp >= 0xDC00 && cp <= 0xDFFF) {
                            failAt(escapeAt, "\\u" + hex(cp) + " is the second half of a UTF-16 surrogate pair without its first half (\\uD800-\\uDBFF)");
                            break;
                        }
                        if (cp >= 0xD800 && cp < 0xDC00) {
                            unsigned lo = 0;
                            const bool next = m_s.compare(m_i, 2, "\\u") == 0;
                            if (next) {
                                advance();
                                advance();
                                if (!hex4(lo)) break;
                            }
                            if (!next || lo < 0xDC00 || lo > 0xDFFF) {
                                failAt(escapeAt, "\\u" + hex(cp) +
                                                     " is the first half of a UTF-16 surrogate pair but no second half (\\uDC00-\\uDFFF) follows it");
                                break;
                            }
                            cp = 0x10000 + ((cp - 0xD800) << 10) + (lo - 0xDC00);
                        }
                        putUtf8(out, cp);
                        break;
                    }
                    default:
                        fail(e > 0x20 && e < 0x7F ? std::string("unknown escape '\\") + e + "' in a string"
                                                  : std::string("unknown escape in a string (a backslash before a control or non-ASCII character)"));
                        break;
                }
                continue;
            }
            if (static_cast<unsigned char>(c) >= 0x80) {
                const size_t n = utf8Length();
                if (n == 0) {
                    fail("invalid UTF-8 in a string (save the file as UTF-8)");
                    break;
                }
                for (size_t k = 0; k < n; ++k) {
                    out += peek();
                    advance();
                }
                continue;
            }
            out += c;
            advance();
        }
        return out;
    }

    nlohmann::ordered_json number() {
        const size_t start = m_i;
        bool isFloat = false;
        if (peek() == '-') advance();
        if (!std::isdigit(static_cast<unsigned char>(peek()))) {
            fail("a number needs digits after '-'");
            return {};
        }
        if (peek() == '0' && m_i + 1 < m_s.size() && std::isdigit(static_cast<unsigned char>(m_s[m_i + 1]))) {
            fail("numbers may not have leading zeros");
            return {};
        }
        while (std::isdigit(static_cast<unsigned char>(peek()))) advance();
        if (peek() == '.') {
            isFloat = true;
            advance();
            if (!std::isdigit(static_cast<unsigned char>(peek()))) {
                fail("a decimal point must be followed by digits");
                return {};
            }
            while (std::isdigit(static_cast<unsigned char>(peek()))) advance();
        }
        if (peek() == 'e' || peek() == 'E') {
            isFloat = true;
            advance();
            if (peek() == '+' || peek() == '-') advance();
            if (!std::isdigit(static_cast<unsigned char>(peek()))) {
                fail("an exponent needs digits");
                return {};
            }
            while (std::isdigit(static_cast<unsigned char>(peek()))) advance();
        }
        const std::string tok = m_s.substr(start, m_i - start);
        if (!isFloat) {
            errno = 0;
            const long long v = std::strtoll(tok.c_str(), nullptr, 10);
            if (errno != ERANGE) return v;
        }
        return std::strtod(tok.c_str(), nullptr);
    }
};

}  // namespace

JsonSource parseJsonWithPositions(const std::string& text) {
    JsonSource out;
    Parser(text, out).run();
    return out;
}

}  // namespace moe::spec::detail
