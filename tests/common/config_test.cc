#include "common/config.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdlib>
#include <fstream>

namespace feilong {
namespace {

using ::testing::HasSubstr;
using namespace std::chrono_literals;

ConfigReader Parse(std::string_view yaml) {
  auto r = ConfigReader::FromString(yaml);
  EXPECT_TRUE(r.ok()) << r.status().ToString();
  return std::move(r).value();
}

TEST(ConfigTest, ReadsScalarsOfEveryType) {
  ConfigReader root = Parse(R"(
name: fld
verbose: true
offset: -42
port: 65001
big: 18446744073709551615
ratio: 0.75
hosts: [a.example, "b.example"]
)");
  std::string name;
  bool verbose = false;
  int64_t offset = 0;
  uint32_t port = 0;
  uint64_t big = 0;
  double ratio = 0;
  std::vector<std::string> hosts;
  ASSERT_TRUE(root.Read("name", name).ok());
  ASSERT_TRUE(root.Read("verbose", verbose).ok());
  ASSERT_TRUE(root.Read("offset", offset).ok());
  ASSERT_TRUE(root.Read("port", port).ok());
  ASSERT_TRUE(root.Read("big", big).ok());
  ASSERT_TRUE(root.Read("ratio", ratio).ok());
  ASSERT_TRUE(root.Read("hosts", hosts).ok());
  EXPECT_EQ(name, "fld");
  EXPECT_TRUE(verbose);
  EXPECT_EQ(offset, -42);
  EXPECT_EQ(port, 65001u);
  EXPECT_EQ(big, UINT64_MAX);
  EXPECT_DOUBLE_EQ(ratio, 0.75);
  EXPECT_EQ(hosts, (std::vector<std::string>{"a.example", "b.example"}));
  EXPECT_TRUE(root.CheckNoUnknownKeys().ok());
}

TEST(ConfigTest, AbsentKeyKeepsDefault) {
  ConfigReader root = Parse("a: 1\n");
  uint32_t port = 7;
  std::string s = "default";
  std::chrono::milliseconds d = 5s;
  std::vector<std::string> v = {"x"};
  uint64_t bytes = 9;
  EXPECT_TRUE(root.Read("port", port).ok());
  EXPECT_TRUE(root.Read("s", s).ok());
  EXPECT_TRUE(root.Read("d", d).ok());
  EXPECT_TRUE(root.Read("v", v).ok());
  EXPECT_TRUE(root.ReadBytes("b", bytes).ok());
  EXPECT_TRUE(root.Child("missing").Read("port", port).ok());
  EXPECT_EQ(port, 7u);
  EXPECT_EQ(s, "default");
  EXPECT_EQ(d, 5s);
  EXPECT_EQ(v, std::vector<std::string>{"x"});
  EXPECT_EQ(bytes, 9u);
}

TEST(ConfigTest, BadValueNamesFullKeyAndValueAndKeepsOut) {
  ConfigReader root = Parse("daemon:\n  piece_port: abc\n");
  uint32_t port = 65001;
  Status s = root.Child("daemon").Read("piece_port", port);
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "config key 'daemon.piece_port': expected an unsigned integer, got 'abc'");
  EXPECT_EQ(port, 65001u);
}

TEST(ConfigTest, IntegerErrors) {
  ConfigReader root = Parse(R"(
neg: -1
too_big32: 4294967296
too_big64: 18446744073709551616
hex: 0x10
frac: 1.5
plus: +3
)");
  uint32_t u32 = 0;
  uint64_t u64 = 0;
  int64_t i64 = 0;
  EXPECT_THAT(root.Read("neg", u32).message(), HasSubstr("expected an unsigned integer, got '-1'"));
  EXPECT_THAT(root.Read("neg", u64).message(), HasSubstr("expected an unsigned integer"));
  EXPECT_THAT(root.Read("too_big32", u32).message(), HasSubstr("out of range"));
  EXPECT_TRUE(root.Read("too_big32", u64).ok());
  EXPECT_EQ(u64, 4294967296u);
  EXPECT_THAT(root.Read("too_big64", u64).message(), HasSubstr("out of range"));
  EXPECT_THAT(root.Read("too_big64", i64).message(), HasSubstr("out of range"));
  EXPECT_FALSE(root.Read("hex", i64).ok());
  EXPECT_FALSE(root.Read("frac", i64).ok());
  EXPECT_FALSE(root.Read("plus", i64).ok());
}

TEST(ConfigTest, BoolAcceptsOnlyTrueFalse) {
  ConfigReader root = Parse("a: True\nb: FALSE\nc: yes\nd: 1\n");
  bool v = false;
  EXPECT_TRUE(root.Read("a", v).ok());
  EXPECT_TRUE(v);
  EXPECT_TRUE(root.Read("b", v).ok());
  EXPECT_FALSE(v);
  EXPECT_EQ(root.Read("c", v).message(), "config key 'c': expected true or false, got 'yes'");
  EXPECT_FALSE(root.Read("d", v).ok());
}

TEST(ConfigTest, DoubleErrors) {
  ConfigReader root = Parse("a: 1e3\nb: nan\nc: .inf\nd: abc\ne: 3\n");
  double v = 0;
  EXPECT_TRUE(root.Read("a", v).ok());
  EXPECT_DOUBLE_EQ(v, 1000);
  EXPECT_TRUE(root.Read("e", v).ok());
  EXPECT_DOUBLE_EQ(v, 3);
  EXPECT_FALSE(root.Read("b", v).ok());
  EXPECT_FALSE(root.Read("c", v).ok());
  EXPECT_THAT(root.Read("d", v).message(), HasSubstr("expected a number, got 'abc'"));
}

TEST(ConfigTest, WrongShapeIsAnError) {
  ConfigReader root = Parse("m: {a: 1}\nl: [1, 2]\nn:\nnested: [[1]]\n");
  std::string s;
  EXPECT_EQ(root.Read("m", s).message(), "config key 'm': expected a string, got a map");
  EXPECT_EQ(root.Read("l", s).message(), "config key 'l': expected a string, got a list");
  EXPECT_EQ(root.Read("n", s).message(), "config key 'n': expected a string, got null");
  std::vector<std::string> v = {"keep"};
  EXPECT_THAT(root.Read("m", v).message(), HasSubstr("expected a list of strings, got a map"));
  EXPECT_EQ(root.Read("nested", v).message(),
            "config key 'nested[0]': expected a string, got a list");
  EXPECT_EQ(v, std::vector<std::string>{"keep"});
  EXPECT_TRUE(root.Read("n", v).ok());  // null list: empty
  EXPECT_TRUE(v.empty());
}

TEST(ConfigTest, Durations) {
  ConfigReader root = Parse(R"(
a: 250ms
b: 5s
c: 2m
d: 1h
e: 1.5s
f: 0ms
bare: 250
bad: 5 parsecs
neg: -5s
huge: 99999999999999999h
)");
  std::chrono::milliseconds d{};
  ASSERT_TRUE(root.Read("a", d).ok());
  EXPECT_EQ(d, 250ms);
  ASSERT_TRUE(root.Read("b", d).ok());
  EXPECT_EQ(d, 5s);
  ASSERT_TRUE(root.Read("c", d).ok());
  EXPECT_EQ(d, 2min);
  ASSERT_TRUE(root.Read("d", d).ok());
  EXPECT_EQ(d, 1h);
  ASSERT_TRUE(root.Read("e", d).ok());
  EXPECT_EQ(d, 1500ms);
  ASSERT_TRUE(root.Read("f", d).ok());
  EXPECT_EQ(d, 0ms);
  d = 7ms;
  Status bare = root.Read("bare", d);
  EXPECT_EQ(bare.code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(bare.message(), HasSubstr("config key 'bare'"));
  EXPECT_THAT(bare.message(), HasSubstr("unit"));
  EXPECT_THAT(bare.message(), HasSubstr("'250ms'"));
  EXPECT_THAT(root.Read("bad", d).message(), HasSubstr("expected a duration"));
  EXPECT_FALSE(root.Read("neg", d).ok());
  EXPECT_THAT(root.Read("huge", d).message(), HasSubstr("out of range"));
  EXPECT_EQ(d, 7ms);
}

TEST(ConfigTest, Bytes) {
  ConfigReader root = Parse(R"(
plain: 123
b: 10B
kib: 4KiB
mib: 4MiB
gib: 1GiB
mb: 10MB
gb: 1GB
half: 1.5KiB
spaced: 2 MiB
bad: 4XB
lower: 4mib
frac: 1.5
)");
  uint64_t v = 0;
  auto read = [&](const char* key) {
    v = 0;
    Status s = root.ReadBytes(key, v);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  };
  EXPECT_EQ(read("plain"), 123u);
  EXPECT_EQ(read("b"), 10u);
  EXPECT_EQ(read("kib"), 4096u);
  EXPECT_EQ(read("mib"), 4u << 20);
  EXPECT_EQ(read("gib"), 1ull << 30);
  EXPECT_EQ(read("mb"), 10'000'000u);
  EXPECT_EQ(read("gb"), 1'000'000'000u);
  EXPECT_EQ(read("half"), 1536u);
  EXPECT_EQ(read("spaced"), 2u << 20);
  EXPECT_THAT(root.ReadBytes("bad", v).message(), HasSubstr("config key 'bad': expected a size"));
  EXPECT_FALSE(root.ReadBytes("lower", v).ok());
  EXPECT_FALSE(root.ReadBytes("frac", v).ok());
}

TEST(ConfigTest, BytesOverflow) {
  ConfigReader root = Parse("a: 17179869184GiB\nb: 16777215TiB\n");
  uint64_t v = 1;
  EXPECT_THAT(root.ReadBytes("a", v).message(), HasSubstr("out of range"));
  EXPECT_TRUE(root.ReadBytes("b", v).ok());
  EXPECT_EQ(v, 16777215ull << 40);
}

TEST(ConfigTest, BitRates) {
  ConfigReader root = Parse(R"(
a: 100Mbit
b: 1Gbit
c: 500kbit
d: 20MB/s
e: 8bit
f: 1MiB/s
g: 100Mbps
bare: 100
tiny: 1bit
bad: 100Mbitz
zero: 0Mbit
)");
  uint64_t v = 0;
  auto read = [&](const char* key) {
    v = 0;
    Status s = root.ReadBitRate(key, v);
    EXPECT_TRUE(s.ok()) << s.ToString();
    return v;
  };
  EXPECT_EQ(read("a"), 12'500'000u);
  EXPECT_EQ(read("b"), 125'000'000u);
  EXPECT_EQ(read("c"), 62'500u);
  EXPECT_EQ(read("d"), 20'000'000u);
  EXPECT_EQ(read("e"), 1u);
  EXPECT_EQ(read("f"), 1u << 20);
  EXPECT_EQ(read("g"), 12'500'000u);
  EXPECT_EQ(read("zero"), 0u);
  v = 3;
  EXPECT_THAT(root.ReadBitRate("bare", v).message(), HasSubstr("needs a unit"));
  EXPECT_THAT(root.ReadBitRate("tiny", v).message(), HasSubstr("less than 1 byte per second"));
  EXPECT_THAT(root.ReadBitRate("bad", v).message(), HasSubstr("expected a bit rate"));
  EXPECT_EQ(v, 3u);
}

TEST(ConfigTest, UnknownKeyNamesFullPath) {
  ConfigReader root = Parse("daemon:\n  piece_port: 1\n  piece_prot: 2\nlog_level: info\n");
  ConfigReader daemon = root.Child("daemon");
  uint32_t port = 0;
  std::string level;
  ASSERT_TRUE(daemon.Read("piece_port", port).ok());
  ASSERT_TRUE(root.Read("log_level", level).ok());
  Status s = root.CheckNoUnknownKeys();
  EXPECT_EQ(s.code(), StatusCode::kInvalidArgument);
  EXPECT_EQ(s.message(), "unknown config key 'daemon.piece_prot'");
  // The child sees the same thing for its own subtree.
  EXPECT_EQ(daemon.CheckNoUnknownKeys().message(), "unknown config key 'daemon.piece_prot'");
}

TEST(ConfigTest, UnknownTopLevelKeyAndUnvisitedChild) {
  ConfigReader root = Parse("a: 1\nscheduler:\n  x: 1\n");
  uint32_t a = 0;
  ASSERT_TRUE(root.Read("a", a).ok());
  EXPECT_EQ(root.CheckNoUnknownKeys().message(), "unknown config key 'scheduler'");
}

TEST(ConfigTest, ConsumedThroughChildrenAndCopies) {
  ConfigReader root = Parse("a:\n  b:\n    c: 1\n  l: [x]\n");
  {
    ConfigReader a = root.Child("a");
    ConfigReader b = a.Child("b");
    uint32_t c = 0;
    ASSERT_TRUE(b.Read("c", c).ok());
    EXPECT_EQ(c, 1u);
    EXPECT_EQ(b.path(), "a.b");
  }
  EXPECT_EQ(root.CheckNoUnknownKeys().message(), "unknown config key 'a.l'");
  std::vector<std::string> l;
  ASSERT_TRUE(root.Child("a").Read("l", l).ok());
  EXPECT_TRUE(root.CheckNoUnknownKeys().ok());
}

TEST(ConfigTest, FailedReadStillConsumesKey) {
  ConfigReader root = Parse("a: abc\n");
  uint32_t a = 0;
  EXPECT_FALSE(root.Read("a", a).ok());
  EXPECT_TRUE(root.CheckNoUnknownKeys().ok());
}

TEST(ConfigTest, ChildOfScalarFailsReadsAndCheck) {
  ConfigReader root = Parse("daemon: 5\n");
  ConfigReader daemon = root.Child("daemon");
  uint32_t port = 9;
  Status s = daemon.Read("port", port);
  EXPECT_EQ(s.message(), "config key 'daemon': expected a map, got '5'");
  EXPECT_EQ(port, 9u);
  EXPECT_EQ(daemon.Child("x").Read("y", port).message(), s.message());
  EXPECT_EQ(root.CheckNoUnknownKeys().message(), s.message());
}

TEST(ConfigTest, NullChildIsEmptyMap) {
  ConfigReader root = Parse("daemon:\n");
  uint32_t port = 9;
  EXPECT_TRUE(root.Child("daemon").Read("port", port).ok());
  EXPECT_EQ(port, 9u);
  EXPECT_TRUE(root.CheckNoUnknownKeys().ok());
}

TEST(ConfigTest, EmptyDocumentIsEmptyMap) {
  for (std::string_view text : {"", "\n", "# only a comment\n", "---\n", "~\n"}) {
    auto r = ConfigReader::FromString(text);
    ASSERT_TRUE(r.ok()) << "'" << text << "': " << r.status().ToString();
    uint32_t port = 3;
    EXPECT_TRUE(r->Read("port", port).ok());
    EXPECT_EQ(port, 3u);
    EXPECT_TRUE(r->CheckNoUnknownKeys().ok());
    EXPECT_TRUE(r->Keys().empty());
  }
}

TEST(ConfigTest, HasAndKeysDoNotConsume) {
  ConfigReader root = Parse("b: 1\na: 2\n");
  EXPECT_TRUE(root.Has("a"));
  EXPECT_FALSE(root.Has("c"));
  EXPECT_EQ(root.Keys(), (std::vector<std::string>{"b", "a"}));
  EXPECT_EQ(root.CheckNoUnknownKeys().message(), "unknown config key 'b'");
}

TEST(ConfigTest, SyntaxErrorNamesLineAndColumn) {
  auto r = ConfigReader::FromString("a: 1\nb: [1, 2\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("config: line "));
  EXPECT_THAT(r.status().message(), HasSubstr("column "));
}

TEST(ConfigTest, TopLevelMustBeAMap) {
  auto r = ConfigReader::FromString("- a\n- b\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("top level must be a map"));
  EXPECT_FALSE(ConfigReader::FromString("just a string").ok());
}

TEST(ConfigTest, DuplicateKeyIsAnError) {
  auto r = ConfigReader::FromString("a:\n  b: 1\n  b: 2\n");
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), "config: line 3: duplicate key 'a.b'");
}

// Found by tests/fuzz/config_reader_fuzz: a deeply nested document
// overflowed the stack of the duplicate-key walk (under ASan).
TEST(ConfigTest, DeepNestingIsAnErrorNotAStackOverflow) {
  std::string lists = "a: " + std::string(200, '[') + std::string(200, ']') + "\n";
  auto r = ConfigReader::FromString(lists);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("is nested more than 64 levels deep"));

  std::string maps = "a: ";
  for (int i = 0; i < 200; ++i) {
    maps += "{b: ";
  }
  maps += "1" + std::string(200, '}') + "\n";
  r = ConfigReader::FromString(maps);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("'a.b.b.b."));
  EXPECT_THAT(r.status().message(), HasSubstr("is nested more than 64 levels deep"));

  // Deeper still, yaml-cpp's parser stops first; the message says why.
  std::string deeper = "a: " + std::string(5000, '[') + std::string(5000, ']') + "\n";
  r = ConfigReader::FromString(deeper);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("nested more than 64 levels deep"));

  std::string ok = "a: " + std::string(60, '[') + "1" + std::string(60, ']') + "\n";
  EXPECT_TRUE(ConfigReader::FromString(ok).ok());
}

TEST(ConfigTest, AliasCyclesAndAliasBombsAreErrors) {
  auto cycle = ConfigReader::FromString("a: &x [*x]\n");
  ASSERT_FALSE(cycle.ok());
  EXPECT_THAT(cycle.status().message(), HasSubstr("nested more than 64 levels deep"));

  // 20 levels, each a list of two aliases of the level below: 2^20 values.
  std::string bomb = "l0: &l0 [x, x]\n";
  for (int i = 1; i <= 20; ++i) {
    bomb += "l" + std::to_string(i) + ": &l" + std::to_string(i) + " [*l" + std::to_string(i - 1) +
            ", *l" + std::to_string(i - 1) + "]\n";
  }
  auto r = ConfigReader::FromString(bomb);
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("more than 100000 values"));
}

TEST(ConfigTest, MultipleDocumentsAreAnError) {
  auto r = ConfigReader::FromString("a: 1\n---\nb: 2\n");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("2 YAML documents"));
}

// Found by tests/fuzz/daemon_config_fuzz: a stray ',' at the top level made
// yaml-cpp's LoadAll loop forever, allocating (fld and flsched hung at
// start, then ran out of memory).
TEST(ConfigTest, StrayCommaIsAnErrorNotAHang) {
  for (const char* yaml : {",", ",\x80", "\n,\n", "  ,", "---\n,", "# c\n, a"}) {
    auto r = ConfigReader::FromString(yaml);
    ASSERT_FALSE(r.ok()) << yaml;
    EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument) << r.status().ToString();
  }
  auto r = ConfigReader::FromString(",");
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("line 1, column 1"));
}

class ConfigFileTest : public ::testing::Test {
 protected:
  void SetUp() override {
    std::string tmpl = ::testing::TempDir() + "config_test_XXXXXX";
    ASSERT_NE(::mkdtemp(tmpl.data()), nullptr);
    dir_ = tmpl;
  }
  void TearDown() override { std::system(("rm -rf '" + dir_ + "'").c_str()); }
  std::string Write(const std::string& text) {
    std::string path = dir_ + "/fld.yaml";
    std::ofstream(path) << text;
    return path;
  }
  std::string dir_;
};

TEST_F(ConfigFileTest, ReadsFile) {
  auto r = ConfigReader::FromFile(Write("daemon:\n  piece_port: 65002\n"));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  uint32_t port = 0;
  ASSERT_TRUE(r->Child("daemon").Read("piece_port", port).ok());
  EXPECT_EQ(port, 65002u);
}

TEST_F(ConfigFileTest, MissingFileIsNotFoundNamingIt) {
  std::string path = dir_ + "/nope.yaml";
  auto r = ConfigReader::FromFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kNotFound);
  EXPECT_THAT(r.status().message(), HasSubstr(path));
}

TEST_F(ConfigFileTest, DirectoryIsIOError) {
  auto r = ConfigReader::FromFile(dir_);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kIOError);
}

TEST_F(ConfigFileTest, SyntaxErrorNamesFileLineAndColumn) {
  std::string path = Write("a: 1\nb: [1, 2\n");
  auto r = ConfigReader::FromFile(path);
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().code(), StatusCode::kInvalidArgument);
  EXPECT_THAT(r.status().message(), HasSubstr("config file '" + path + "': line "));
  EXPECT_THAT(r.status().message(), HasSubstr(", column "));
}

TEST_F(ConfigFileTest, EmptyFileIsEmptyMap) {
  auto r = ConfigReader::FromFile(Write(""));
  ASSERT_TRUE(r.ok()) << r.status().ToString();
  EXPECT_TRUE(r->CheckNoUnknownKeys().ok());
}

}  // namespace
}  // namespace feilong
