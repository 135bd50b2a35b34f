// libFuzzer target for everything guest-init parses from the image or the VMM parses from the
// guest: /cmd, /env, /forward, one-line files, USER against passwd/group, and status records.
#include <stddef.h>
#include <stdint.h>
#include <string_view>

#include "guest-init/forward_spec.h"
#include "guest-init/launch_files.h"
#include "guest-init/status_protocol.h"
#include "guest-init/user_spec.h"

using namespace guest_init;

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size)
{
    std::string_view text(reinterpret_cast<const char*>(data), size);
    parse_cmd(text);
    EnvParse env = parse_env(text);
    env_lookup(env.vars, "PATH");
    std::string line = parse_single_line(text);
    ForwardParse forwards = parse_forwards(text);
    if (!forwards.error.empty() ? !forwards.forwards.empty() : parse_forwards(forwards_to_lines(forwards.forwards)).forwards.size() != forwards.forwards.size())
        __builtin_trap();
    // Split the input in three: the USER spec, passwd, group.
    size_t a = size / 3, b = 2 * size / 3;
    resolve_user(text.substr(0, a).substr(0, 64), text.substr(a, b - a), text.substr(b));
    StatusRecord record;
    if (decode_status_record(data, size, &record) == 0) {
        char description[128];
        describe_status_record(&record, description, sizeof description);
        uint8_t again[kStatusRecordSize];
        encode_status_record(&record, again);
    }
    return 0;
}
