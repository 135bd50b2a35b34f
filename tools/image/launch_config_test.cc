#include "base/error.h"
#include "tools/image/launch_config.h"

#include <doctest/doctest.h>

using Json = nlohmann::ordered_json;

TEST_CASE("argv is Entrypoint followed by Cmd, as Docker runs it")
{
    auto both = image::launch_config_from_image_config(Json::parse(R"({"config":{"Entrypoint":["/bin/app","--flag"],"Cmd":["arg 1","x"]}})"));
    CHECK(both.argv == std::vector<std::string> { "/bin/app", "--flag", "arg 1", "x" });
    auto cmd_only = image::launch_config_from_image_config(Json::parse(R"({"config":{"Cmd":["/bin/sh","-c","echo hi"],"Entrypoint":null}})"));
    CHECK(cmd_only.argv == std::vector<std::string> { "/bin/sh", "-c", "echo hi" });
    auto ep_only = image::launch_config_from_image_config(Json::parse(R"({"config":{"Entrypoint":["/srv"],"Cmd":[]}})"));
    CHECK(ep_only.argv == std::vector<std::string> { "/srv" });
    CHECK(image::to_lines(both.argv) == "/bin/app\n--flag\narg 1\nx\n");
}

TEST_CASE("env, workdir and user come from the config; empty ones are left out")
{
    auto l = image::launch_config_from_image_config(Json::parse(
        R"({"config":{"Cmd":["a"],"Env":["PATH=/usr/bin","A=b=c"],"WorkingDir":"/srv","User":"1000:1000"}})"));
    CHECK(l.env == std::vector<std::string> { "PATH=/usr/bin", "A=b=c" });
    CHECK(image::to_lines(l.env) == "PATH=/usr/bin\nA=b=c\n");
    CHECK(l.workdir == std::optional<std::string>("/srv"));
    CHECK(l.user == std::optional<std::string>("1000:1000"));
    auto bare = image::launch_config_from_image_config(Json::parse(R"({"config":{"Cmd":["a"],"WorkingDir":"","User":""}})"));
    CHECK(bare.env.empty());
    CHECK_FALSE(bare.workdir.has_value());
    CHECK_FALSE(bare.user.has_value());
    CHECK(image::to_lines(bare.env).empty());
}

TEST_CASE("nothing to run, newlines and wrong types are clear errors")
{
    auto code_of = [](const char* text) {
        try {
            image::launch_config_from_image_config(Json::parse(text));
        } catch (const base::Error& e) {
            return e.code();
        }
        return std::string("none");
    };
    CHECK(code_of(R"({"config":{"Env":["A=b"]}})") == "IMG_NO_COMMAND");
    CHECK(code_of(R"({"architecture":"amd64"})") == "IMG_NO_COMMAND");
    CHECK(code_of(R"({"config":{"Cmd":[],"Entrypoint":[]}})") == "IMG_NO_COMMAND");
    CHECK(code_of(R"({"config":{"Cmd":["echo","two\nlines"]}})") == "IMG_CONFIG_NEWLINE");
    CHECK(code_of(R"({"config":{"Cmd":["x"],"Env":["A=1\nB=2"]}})") == "IMG_CONFIG_NEWLINE");
    CHECK(code_of(R"({"config":{"Cmd":["x"],"WorkingDir":"/a\n"}})") == "IMG_CONFIG_NEWLINE");
    CHECK(code_of(R"({"config":{"Cmd":"/bin/sh"}})") == "IMG_CONFIG_BAD_FIELD");
    CHECK(code_of(R"({"config":{"Cmd":[1]}})") == "IMG_CONFIG_BAD_FIELD");
}

TEST_CASE("the qt-vmm.forward label becomes /forward; a malformed one is a clear error")
{
    auto l = image::launch_config_from_image_config(Json::parse(R"({"config":{"Cmd":["a"],"Labels":{"qt-vmm.forward":"443:8000, 5432:8001"}}})"));
    CHECK(l.forward == std::optional<std::string>("443:8000\n5432:8001\n"));
    auto none = image::launch_config_from_image_config(Json::parse(R"({"config":{"Cmd":["a"],"Labels":{"other":"x"}}})"));
    CHECK_FALSE(none.forward.has_value());
    for (const char* bad : { R"({"config":{"Cmd":["a"],"Labels":{"qt-vmm.forward":"443"}}})",
             R"({"config":{"Cmd":["a"],"Labels":{"qt-vmm.forward":5}}})" }) {
        try {
            image::launch_config_from_image_config(Json::parse(bad));
            FAIL("accepted " << bad);
        } catch (const base::Error& e) {
            CHECK(e.code() == "IMG_BAD_FORWARD");
            CHECK(std::string(e.what()).find("qt-vmm.forward") != std::string::npos);
        }
    }
}
