#pragma once
// Small RAII helpers over the SQLite C API, private to the run store.
#include <sqlite3.h>

#include <cstdint>
#include <string>
#include <vector>

namespace moe::telemetry::detail {

class Statement {
public:
    Statement(sqlite3* db, const char* sql) {
        if (sqlite3_prepare_v2(db, sql, -1, &m_stmt, nullptr) != SQLITE_OK) m_stmt = nullptr;
    }
    ~Statement() { sqlite3_finalize(m_stmt); }
    Statement(const Statement&) = delete;
    Statement& operator=(const Statement&) = delete;

    bool ok() const { return m_stmt != nullptr; }
    Statement& bind(int i, double v) { sqlite3_bind_double(m_stmt, i, v); return *this; }
    Statement& bind(int i, std::int64_t v) { sqlite3_bind_int64(m_stmt, i, v); return *this; }
    Statement& bind(int i, int v) { sqlite3_bind_int(m_stmt, i, v); return *this; }
    Statement& bind(int i, const std::string& v) {
        sqlite3_bind_text(m_stmt, i, v.c_str(), static_cast<int>(v.size()), SQLITE_TRANSIENT);
        return *this;
    }
    // SQLITE_ROW, SQLITE_DONE or an error code.
    int step() { return sqlite3_step(m_stmt); }
    void reset() {
        sqlite3_reset(m_stmt);
        sqlite3_clear_bindings(m_stmt);
    }
    double getDouble(int c) const { return sqlite3_column_double(m_stmt, c); }
    std::int64_t getInt(int c) const { return sqlite3_column_int64(m_stmt, c); }
    std::string getText(int c) const {
        const auto* t = sqlite3_column_text(m_stmt, c);
        return t ? std::string(reinterpret_cast<const char*>(t)) : std::string();
    }
    bool isNull(int c) const { return sqlite3_column_type(m_stmt, c) == SQLITE_NULL; }
    int columns() const { return sqlite3_column_count(m_stmt); }
    std::string columnName(int c) const { return sqlite3_column_name(m_stmt, c); }
    sqlite3_stmt* raw() { return m_stmt; }

private:
    sqlite3_stmt* m_stmt = nullptr;
};

// Whether `table` has `column` (a store written by an older version may lack a newer column).
inline bool hasColumn(sqlite3* db, const std::string& table, const std::string& column) {
    const std::string sql = "PRAGMA table_info(" + table + ")";
    Statement st(db, sql.c_str());
    while (st.ok() && st.step() == SQLITE_ROW)
        if (st.getText(1) == column) return true;
    return false;
}

inline std::string lastError(sqlite3* db) { return db ? sqlite3_errmsg(db) : "out of memory"; }

inline bool exec(sqlite3* db, const char* sql, std::string& error) {
    char* msg = nullptr;
    if (sqlite3_exec(db, sql, nullptr, nullptr, &msg) != SQLITE_OK) {
        error = msg ? msg : "unknown SQLite error";
        sqlite3_free(msg);
        return false;
    }
    return true;
}

}  // namespace moe::telemetry::detail
