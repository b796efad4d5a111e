#include "source/url.h"

#include <algorithm>
#include <bit>
#include <cctype>
#include <vector>

#include "common/ascii.h"
#include "common/digest.h"

namespace feilong::source {

namespace {

bool IsAlpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool IsDigit(char c) { return c >= '0' && c <= '9'; }
bool IsHexDigit(char c) { return IsDigit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F'); }

Status Malformed(std::string_view url, std::string_view why) {
  return Status::InvalidArgument("malformed URL '" + RedactUrl(url) + "': " + std::string(why));
}

bool ValidRegName(std::string_view host) {
  return std::all_of(host.begin(), host.end(), [](char c) {
    return IsAlpha(c) || IsDigit(c) || c == '-' || c == '.' || c == '_' || c == '~' || c == '%';
  });
}

bool ValidIpv6Literal(std::string_view inner) {
  if (inner.empty()) {
    return false;
  }
  return std::all_of(inner.begin(), inner.end(), [](char c) {
    // Hex digits, ':' and '.' (embedded IPv4), '%' and a zone id after it.
    return IsAlpha(c) || IsDigit(c) || c == ':' || c == '.' || c == '%' || c == '-' || c == '_';
  });
}

// "%2f" -> "%2F"; other bytes unchanged.
std::string UppercasePercentEscapes(std::string_view s) {
  std::string out(s);
  for (size_t i = 0; i + 2 < out.size(); ++i) {
    if (out[i] == '%' && IsHexDigit(out[i + 1]) && IsHexDigit(out[i + 2])) {
      out[i + 1] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[i + 1])));
      out[i + 2] = static_cast<char>(std::toupper(static_cast<unsigned char>(out[i + 2])));
      i += 2;
    }
  }
  return out;
}

// RFC 3986 section 5.2.4 for an absolute path ("/..." or empty).
std::string RemoveDotSegments(std::string_view path) {
  if (path.empty()) {
    return "/";
  }
  std::vector<std::string_view> out;
  bool trailing_slash = false;
  std::string_view rest = path.substr(1);
  while (true) {
    size_t slash = rest.find('/');
    bool last = slash == std::string_view::npos;
    std::string_view segment = last ? rest : rest.substr(0, slash);
    if (segment == ".") {
      trailing_slash = last;
    } else if (segment == "..") {
      if (!out.empty()) {
        out.pop_back();
      }
      trailing_slash = last;
    } else {
      out.push_back(segment);
      trailing_slash = false;
    }
    if (last) {
      break;
    }
    rest = rest.substr(slash + 1);
  }
  std::string result;
  for (std::string_view segment : out) {
    result.push_back('/');
    result.append(segment);
  }
  if (result.empty() || (trailing_slash && result.back() != '/')) {
    result.push_back('/');
  }
  return result;
}

}  // namespace

Result<ParsedUrl> ParseUrl(std::string_view url) {
  for (char c : url) {
    auto u = static_cast<unsigned char>(c);
    if (u <= 0x20 || u == 0x7f) {
      return Malformed(url, "contains whitespace or a control character");
    }
  }
  size_t sep = url.find("://");
  if (sep == std::string_view::npos) {
    return Malformed(url, "no scheme");
  }
  std::string_view scheme = url.substr(0, sep);
  if (scheme.empty() || !IsAlpha(scheme[0]) ||
      !std::all_of(scheme.begin(), scheme.end(), [](char c) {
        return IsAlpha(c) || IsDigit(c) || c == '+' || c == '-' || c == '.';
      })) {
    return Malformed(url, "bad scheme");
  }
  ParsedUrl parsed;
  parsed.scheme = AsciiLowercase(scheme);

  std::string_view rest = url.substr(sep + 3);
  size_t authority_end = rest.find_first_of("/?#");
  std::string_view authority = rest.substr(0, authority_end);
  rest = authority_end == std::string_view::npos ? std::string_view() : rest.substr(authority_end);

  size_t at = authority.rfind('@');
  if (at != std::string_view::npos) {
    parsed.userinfo = std::string(authority.substr(0, at));
    authority = authority.substr(at + 1);
  }
  std::string_view host;
  std::string_view port_text;
  if (!authority.empty() && authority[0] == '[') {
    size_t close = authority.find(']');
    if (close == std::string_view::npos || !ValidIpv6Literal(authority.substr(1, close - 1))) {
      return Malformed(url, "bad IPv6 host");
    }
    host = authority.substr(0, close + 1);
    std::string_view after = authority.substr(close + 1);
    if (!after.empty()) {
      if (after[0] != ':') {
        return Malformed(url, "bad host");
      }
      port_text = after.substr(1);
    }
  } else {
    size_t colon = authority.find(':');
    host = authority.substr(0, colon);
    if (colon != std::string_view::npos) {
      port_text = authority.substr(colon + 1);
    }
    if (!ValidRegName(host)) {
      return Malformed(url, "bad host");
    }
  }
  if (host.empty()) {
    return Malformed(url, "no host");
  }
  parsed.host = std::string(host);
  if (!port_text.empty()) {
    if (port_text.size() > 5 || !std::all_of(port_text.begin(), port_text.end(), IsDigit)) {
      return Malformed(url, "bad port");
    }
    int port = std::stoi(std::string(port_text));
    if (port < 1 || port > 65535) {
      return Malformed(url, "port out of range");
    }
    parsed.port = static_cast<uint16_t>(port);
  }

  size_t hash = rest.find('#');
  if (hash != std::string_view::npos) {
    parsed.fragment = std::string(rest.substr(hash + 1));
    rest = rest.substr(0, hash);
  }
  size_t question = rest.find('?');
  if (question != std::string_view::npos) {
    parsed.query = std::string(rest.substr(question + 1));
    rest = rest.substr(0, question);
  }
  parsed.path = std::string(rest);
  return parsed;
}

bool IsSignatureQueryParameter(std::string_view name) {
  static constexpr std::string_view kPrefixes[] = {"x-amz-", "x-goog-", "x-obs-", "q-sign-"};
  static constexpr std::string_view kNames[] = {
      "expires",    "signature",     "ossaccesskeyid",   "awsaccesskeyid", "q-ak",
      "q-key-time", "q-header-list", "q-url-param-list", "q-signature",    "ns"};
  for (std::string_view prefix : kPrefixes) {
    if (AsciiStartsWithIgnoreCase(name, prefix)) {
      return true;
    }
  }
  for (std::string_view exact : kNames) {
    if (AsciiEqualsIgnoreCase(name, exact)) {
      return true;
    }
  }
  return false;
}

bool UrlCarriesCredentials(std::string_view url) {
  Result<ParsedUrl> parsed = ParseUrl(url);
  if (!parsed.ok()) {
    return true;
  }
  if (!parsed->userinfo.empty()) {
    return true;
  }
  if (!parsed->query) {
    return false;
  }
  static constexpr std::string_view kNotCredentials[] = {"expires", "ns"};
  static constexpr std::string_view kMoreCredentials[] = {"sig", "token", "access_token"};
  std::string_view query = *parsed->query;
  for (size_t start = 0; start <= query.size();) {
    size_t amp = query.find('&', start);
    std::string_view param =
        query.substr(start, amp == std::string_view::npos ? std::string_view::npos : amp - start);
    std::string_view name = param.substr(0, param.find('='));
    bool excluded = false;
    for (std::string_view not_credential : kNotCredentials) {
      excluded = excluded || AsciiEqualsIgnoreCase(name, not_credential);
    }
    if (!excluded && IsSignatureQueryParameter(name)) {
      return true;
    }
    for (std::string_view credential : kMoreCredentials) {
      if (AsciiEqualsIgnoreCase(name, credential)) {
        return true;
      }
    }
    if (amp == std::string_view::npos) {
      break;
    }
    start = amp + 1;
  }
  return false;
}

bool IsCredentialHeader(std::string_view name) {
  return AsciiEqualsIgnoreCase(name, "authorization") ||
         AsciiEqualsIgnoreCase(name, "proxy-authorization") ||
         AsciiEqualsIgnoreCase(name, "cookie");
}

Result<std::string> NormalizeUrlForTaskId(std::string_view url) {
  FL_ASSIGN_OR_RETURN(ParsedUrl parsed, ParseUrl(url));
  std::string out = parsed.scheme + "://" + AsciiLowercase(parsed.host);
  bool default_port = (parsed.scheme == "http" && parsed.port == 80) ||
                      (parsed.scheme == "https" && parsed.port == 443);
  if (parsed.port.has_value() && !default_port) {
    out += ":" + std::to_string(*parsed.port);
  }
  out += UppercasePercentEscapes(RemoveDotSegments(parsed.path));

  if (parsed.query.has_value()) {
    std::vector<std::string> kept;
    std::string_view query = *parsed.query;
    while (!query.empty()) {
      size_t amp = query.find('&');
      std::string_view param = query.substr(0, amp);
      query = amp == std::string_view::npos ? std::string_view() : query.substr(amp + 1);
      if (param.empty()) {
        continue;
      }
      std::string_view name = param.substr(0, param.find('='));
      if (IsSignatureQueryParameter(name)) {
        continue;
      }
      kept.push_back(UppercasePercentEscapes(param));
    }
    std::sort(kept.begin(), kept.end());
    for (size_t i = 0; i < kept.size(); ++i) {
      out += (i == 0 ? "?" : "&");
      out += kept[i];
    }
  }
  return out;
}

std::string RedactUrl(std::string_view url) {
  std::string_view cut = url.substr(0, url.find_first_of("?#"));
  size_t sep = cut.find("://");
  if (sep == std::string_view::npos) {
    return std::string(cut);
  }
  std::string_view rest = cut.substr(sep + 3);
  size_t authority_end = rest.find('/');
  std::string_view authority = rest.substr(0, authority_end);
  size_t at = authority.rfind('@');
  std::string out(cut.substr(0, sep + 3));
  out.append(at == std::string_view::npos ? rest : rest.substr(at + 1));
  return out;
}

uint32_t DefaultPieceLength(uint64_t content_length) {
  uint64_t target = content_length / 1024;
  if (target <= kMinPieceLength) {
    return kMinPieceLength;
  }
  if (target >= kMaxPieceLength) {
    return kMaxPieceLength;
  }
  return static_cast<uint32_t>(std::bit_ceil(target));
}

}  // namespace feilong::source
