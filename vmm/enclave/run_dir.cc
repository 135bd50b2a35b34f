#include "vmm/enclave/run_dir.h"

#include "base/error.h"
#include "vmm/enclave/access_group.h"
#include "vmm/enclave/control_protocol.h"
#include "vmm/enclave/trusted_dir.h"

#include <algorithm>
#include <cstdlib>
#include <dirent.h>
#include <fcntl.h>
#include <set>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace vmm {

namespace {

// "<digits><suffix>" -> id, or -1.
int parse_id(const std::string& name, const std::string& suffix)
{
    if (name.size() <= suffix.size() || name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0)
        return -1;
    std::string digits = name.substr(0, name.size() - suffix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos)
        return -1;
    return std::atoi(digits.c_str());
}

base::Error access_denied(const std::string& path)
{
    return base::Error(base::ErrorKind::Permission, "RUN_DIR_ACCESS",
        path + ": permission denied; only root and members of group " + kAccessGroup
            + " may reach enclaves (an admin adds you with: usermod -aG " + kAccessGroup + " USER)");
}

// `json` into `path`, atomically, 0644; never throws on text (invalid UTF-8 becomes U+FFFD).
void write_json(const std::string& path, const Json& json)
{
    base::AtomicFile file(path, 0644);
    file.write(json.dump(2, ' ', false, Json::error_handler_t::replace) + "\n");
    file.commit();
}

} // namespace

RunDir RunDir::open()
{
    const char* env = std::getenv("QT_VMM_RUN_DIR");
    RunDir dir;
    dir.m_path = env && *env ? env : "/run/qt-vmm";
    if (::mkdir(dir.m_path.c_str(), 0700) == 0)
        secure_new_run_dir(dir.m_path); // root:qt-vmm 1770 (access_group.h)
    else if (::geteuid() != 0 && ::access(dir.m_path.c_str(), R_OK | X_OK) != 0 && errno == EACCES)
        throw access_denied(dir.m_path);
    dir.m_fd = std::make_shared<base::UniqueFd>(open_trusted_dir(dir.m_path, "QT_VMM_RUN_DIR", "RUN_DIR_UNSAFE"));
    return dir;
}

RunDir::Lock RunDir::lock() const
{
    std::string path = m_path + "/.lock";
    base::UniqueFd owned;
    if (::geteuid() == 0) {
        try {
            owned = open_own_file(fd(), ".lock", 0660); // whatever a member planted there is replaced
        } catch (const base::Error& e) {
            throw base::Error(e.kind(), "RUN_DIR_LOCK", std::string(e.what()) + " in " + m_path);
        }
    } else {
        // A member of qt-vmm shares root's lock file; never through a symlink, never a FIFO.
        owned.reset(::openat(fd(), ".lock", O_RDWR | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0660));
        struct stat st {};
        if (!owned.valid() || ::fstat(owned.get(), &st) != 0 || !S_ISREG(st.st_mode))
            base::throw_errno("RUN_DIR_LOCK", "cannot open", path + " (a regular file is needed; ask root to remove it)");
    }
    // Every member of qt-vmm may start enclaves, so every member must be able to take the lock.
    struct stat st {};
    if (::fstat(owned.get(), &st) == 0 && st.st_uid == ::geteuid())
        restrict_to_access_group(path);
    int lock_fd = owned.get();
    while (::flock(lock_fd, LOCK_EX) != 0) {
        if (errno != EINTR)
            base::throw_errno("RUN_DIR_LOCK", "cannot lock", path);
    }
    return Lock(std::move(owned));
}

std::string RunDir::socket_path(int id) const { return m_path + "/" + std::to_string(id) + ".sock"; }
std::string RunDir::record_path(int id) const { return m_path + "/" + std::to_string(id) + ".json"; }
std::string RunDir::console_path(int id) const { return m_path + "/" + std::to_string(id) + ".console"; }
std::string RunDir::vsock_path(int id) const { return m_path + "/" + std::to_string(id) + ".vsock"; }
std::string RunDir::reservation_path(int id) const { return m_path + "/" + std::to_string(id) + ".reservation"; }

bool RunDir::remove_record(int id) const
{
    ::unlink(console_path(id).c_str());
    return ::unlink(record_path(id).c_str()) == 0;
}

std::vector<Json> RunDir::list_enclaves() const
{
    std::set<int> sockets, records;
    if (DIR* d = ::opendir(m_path.c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            if (int id = parse_id(name, ".sock"); id >= 0)
                sockets.insert(id);
            if (int id = parse_id(name, ".json"); id >= 0)
                records.insert(id);
        }
        ::closedir(d);
    } else if (errno == EACCES) {
        throw access_denied(m_path);
    }
    std::vector<Json> result;
    for (int id : sockets) {
        try {
            Json reply = control_request(socket_path(id), Json { { "op", "describe" } });
            result.push_back(reply.at("enclave"));
            records.erase(id);
        } catch (const base::Error& e) {
            if (e.code() == "DAEMON_CLOSED" && wait_for_record(id)) {
                // It was ending (it closes its control connections first): its record is there now.
                records.insert(id);
                continue;
            }
            if (e.code() != "DAEMON_GONE") {
                // Alive but silent (stopped, stuck, flooded) or refusing: it still holds what it
                // reserved. Never count it as free.
                result.push_back(not_responding(id, e));
                records.erase(id);
                continue;
            }
            // Nobody listens: the daemon was killed and its socket is stale. Keep a record of
            // what happened, unless the daemon wrote its own in the meantime.
            ::unlink(socket_path(id).c_str());
            ::unlink(vsock_path(id).c_str());
            remove_reservation(id);
            if (!records.count(id) && ::access(record_path(id).c_str(), F_OK) != 0) {
                write_record(id, Json { { "EnclaveID", id }, { "State", "TERMINATED" },
                                     { "Reason", "daemon-killed" },
                                     { "Detail", "the enclave's daemon process died without cleaning up; its memory and CPUs were released by the kernel" } });
                records.insert(id);
            }
        }
    }
    for (int id : records) {
        // A regular file only, never followed through a symlink nor blocking on a FIFO: members
        // of qt-vmm may create names in a sticky group-writable run directory.
        std::optional<std::string> text = read_plain_file(fd(), std::to_string(id) + ".json", 1 << 20, false);
        if (!text)
            continue;
        Json record = Json::parse(*text, nullptr, false);
        if (record.is_object())
            result.push_back(record);
    }
    std::sort(result.begin(), result.end(), [](const Json& a, const Json& b) { return a.value("EnclaveID", 0) < b.value("EnclaveID", 0); });
    return result;
}

int RunDir::next_free_id() const
{
    std::set<int> used;
    if (DIR* d = ::opendir(m_path.c_str())) {
        while (dirent* e = ::readdir(d)) {
            std::string name = e->d_name;
            for (const char* suffix : { ".sock", ".json" }) {
                if (int id = parse_id(name, suffix); id >= 0)
                    used.insert(id);
            }
        }
        ::closedir(d);
    }
    int id = 0;
    while (used.count(id))
        ++id;
    return id;
}

base::UniqueFd RunDir::create_log(int id) const
{
    return create_fresh(fd(), std::to_string(id) + ".log", 0644);
}

std::optional<std::string> RunDir::read_saved_console(int id) const
{
    return read_plain_file(fd(), std::to_string(id) + ".console", 64 << 20, false);
}

bool RunDir::stop_enclave(int id) const
{
    struct stat st {};
    if (::stat(socket_path(id).c_str(), &st) == 0) {
        try {
            control_request(socket_path(id), Json { { "op", "stop" } }, 30000);
            return true;
        } catch (const base::Error& e) {
            if (e.code() == "DAEMON_CLOSED")
                wait_for_record(id); // it was ending on its own: its record comes, cleared below
            else if (e.code() == "DAEMON_GONE")
                list_enclaves(); // turns the stale socket into a record, cleared below
            else
                throw;
        }
    }
    return remove_record(id);
}

bool RunDir::wait_for_record(int id) const
{
    // A daemon writes its record within milliseconds of closing its control connections; 2 s
    // covers a loaded host without holding a query or a start up for long.
    for (int i = 0; i < 200; ++i) {
        if (::access(record_path(id).c_str(), F_OK) == 0)
            return true;
        ::usleep(10'000);
    }
    return false;
}

Json RunDir::not_responding(int id, const base::Error& why) const
{
    Json entry;
    if (std::optional<std::string> text = read_plain_file(fd(), std::to_string(id) + ".reservation", 1 << 16, false))
        entry = Json::parse(*text, nullptr, false);
    if (!entry.is_object())
        entry = Json::object();
    entry["EnclaveID"] = id; // the file name decides, whatever the file says
    entry["State"] = "NOT-RESPONDING";
    std::string pid = entry.contains("ProcessID") ? " (process " + entry["ProcessID"].dump() + ")" : "";
    entry["Detail"] = "the enclave's daemon" + pid + " is alive but did not answer: " + why.what()
        + (entry.contains("EnclaveCID") ? "; its CID, CPUs and memory stay reserved" : "; it left no reservation, so no enclave can be placed until it answers or ends");
    return entry;
}

void RunDir::write_reservation(int id, const Json& reservation) const { write_json(reservation_path(id), reservation); }

void RunDir::remove_reservation(int id) const { ::unlink(reservation_path(id).c_str()); }

void RunDir::write_record(int id, const Json& record) const { write_json(record_path(id), record); }

} // namespace vmm
