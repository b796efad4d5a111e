#include "source/registry_client.h"

#include <gtest/gtest.h>

#include <string>

#include "support/misbehaving_origin.h"

namespace feilong::source {
namespace {

TEST(AuthChallengeTest, ParsesBearerAndBasicChallenges) {
  Result<AuthChallenge> bearer =
      ParseAuthChallenge(R"(Bearer realm="https://auth.example/token",service="registry.example",)"
                         R"(scope="repository:a/b:pull,push")");
  ASSERT_TRUE(bearer.ok()) << bearer.status().ToString();
  EXPECT_EQ(bearer->scheme, "bearer");
  EXPECT_EQ(bearer->params.at("realm"), "https://auth.example/token");
  EXPECT_EQ(bearer->params.at("service"), "registry.example");
  EXPECT_EQ(bearer->params.at("scope"), "repository:a/b:pull,push");  // a comma in quotes

  Result<AuthChallenge> basic = ParseAuthChallenge("Basic realm=\"feilong\", charset=UTF-8");
  ASSERT_TRUE(basic.ok());
  EXPECT_EQ(basic->scheme, "basic");
  EXPECT_EQ(basic->params.at("charset"), "UTF-8");
  EXPECT_TRUE(ParseAuthChallenge("Negotiate").ok());
}

TEST(AuthChallengeTest, RefusesMalformedChallenges) {
  for (const char* bad : {"", "Bearer realm", "Bearer realm=\"open", "Bearer =x"}) {
    EXPECT_TRUE(ParseAuthChallenge(bad).status().IsInvalidArgument()) << bad;
  }
}

TEST(RegistryClientTest, ErrorsMapToStatusCodesWithoutCredentials) {
  using Origin = test::MisbehavingOrigin;
  auto expect = [](unsigned status, std::vector<std::string> headers, StatusCode code) {
    Origin::Options o;
    o.behavior = Origin::Behavior::kFixedStatus;
    o.status = status;
    o.extra_headers = std::move(headers);
    Result<std::unique_ptr<Origin>> started = Origin::Start(o);
    std::unique_ptr<Origin> origin = std::move(*started);
    RegistryOptions options;
    options.plain_http = true;
    options.username = "alice";
    options.password = "s3cret";
    RegistryClient client("127.0.0.1:" + std::to_string(origin->port()), options);
    Result<FetchedManifest> m = client.GetManifest("app", "1", {"application/json"}, 1 << 20);
    EXPECT_EQ(m.status().code(), code) << status << ": " << m.status().ToString();
    EXPECT_EQ(m.status().message().find("s3cret"), std::string::npos);
    return origin->Requests();
  };
  expect(404, {}, StatusCode::kNotFound);
  expect(503, {}, StatusCode::kUnavailable);
  expect(400, {}, StatusCode::kFailedPrecondition);  // the registry refused: not a usage error
  // A Basic challenge is answered once with the credentials, then refused.
  std::vector<std::string> requests =
      expect(401, {"WWW-Authenticate: Basic realm=\"x\""}, StatusCode::kPermissionDenied);
  ASSERT_EQ(requests.size(), 2u);
  EXPECT_EQ(requests[0].find("Authorization"), std::string::npos);
  EXPECT_NE(requests[1].find("Authorization: Basic YWxpY2U6czNjcmV0"), std::string::npos)
      << requests[1];
}

}  // namespace
}  // namespace feilong::source
