#include "mirror/blob_route.h"

#include <vector>

namespace feilong::mirror {

namespace {

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-';
}

bool IsLowerHex(std::string_view s) {
  for (char c : s) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) {
      return false;
    }
  }
  return true;
}

// Each '/'-separated component non-empty, of name characters, starting
// with a letter or digit (so no "." or ".." components).
bool IsRepositoryName(std::string_view name) {
  if (name.empty() || name.size() > 255) {
    return false;
  }
  size_t start = 0;
  while (start <= name.size()) {
    size_t end = name.find('/', start);
    if (end == std::string_view::npos) {
      end = name.size();
    }
    std::string_view part = name.substr(start, end - start);
    if (part.empty() || !IsNameChar(part.front()) || part.front() == '.' || part.front() == '_' ||
        part.front() == '-') {
      return false;
    }
    for (char c : part) {
      if (!IsNameChar(c)) {
        return false;
      }
    }
    start = end + 1;
  }
  return true;
}

int HexValue(char c) {
  if (c >= '0' && c <= '9') return c - '0';
  if (c >= 'a' && c <= 'f') return c - 'a' + 10;
  if (c >= 'A' && c <= 'F') return c - 'A' + 10;
  return -1;
}

std::string PercentDecode(std::string_view s) {
  std::string out;
  out.reserve(s.size());
  for (size_t i = 0; i < s.size(); ++i) {
    if (s[i] == '%' && i + 2 < s.size() && HexValue(s[i + 1]) >= 0 && HexValue(s[i + 2]) >= 0) {
      out.push_back(static_cast<char>(HexValue(s[i + 1]) * 16 + HexValue(s[i + 2])));
      i += 2;
    } else if (s[i] == '+') {
      out.push_back(' ');
    } else {
      out.push_back(s[i]);
    }
  }
  return out;
}

std::vector<std::string_view> SplitParams(std::string_view query) {
  std::vector<std::string_view> params;
  size_t start = 0;
  while (start <= query.size()) {
    size_t end = query.find('&', start);
    if (end == std::string_view::npos) {
      end = query.size();
    }
    if (end > start) {
      params.push_back(query.substr(start, end - start));
    }
    start = end + 1;
  }
  return params;
}

}  // namespace

std::optional<BlobRoute> ParseBlobRoute(std::string_view path) {
  constexpr std::string_view kPrefix = "/v2/";
  constexpr std::string_view kBlobs = "/blobs/sha256:";
  if (!path.starts_with(kPrefix)) {
    return std::nullopt;
  }
  std::string_view rest = path.substr(kPrefix.size());
  size_t at = rest.rfind(kBlobs);
  if (at == std::string_view::npos) {
    return std::nullopt;
  }
  std::string_view name = rest.substr(0, at);
  std::string_view hex = rest.substr(at + kBlobs.size());
  if (hex.size() != 64 || !IsLowerHex(hex) || !IsRepositoryName(name)) {
    return std::nullopt;
  }
  return BlobRoute{std::string(name), std::string(hex)};
}

Target SplitTarget(std::string_view target) {
  size_t q = target.find('?');
  if (q == std::string_view::npos) {
    return {std::string(target), ""};
  }
  return {std::string(target.substr(0, q)), std::string(target.substr(q + 1))};
}

std::optional<std::string> QueryParam(std::string_view query, std::string_view name) {
  for (std::string_view param : SplitParams(query)) {
    size_t eq = param.find('=');
    std::string_view key = param.substr(0, eq);
    if (PercentDecode(key) == name) {
      return eq == std::string_view::npos ? std::string() : PercentDecode(param.substr(eq + 1));
    }
  }
  return std::nullopt;
}

std::string RemoveQueryParam(std::string_view query, std::string_view name) {
  std::string out;
  for (std::string_view param : SplitParams(query)) {
    if (PercentDecode(param.substr(0, param.find('='))) == name) {
      continue;
    }
    if (!out.empty()) {
      out.push_back('&');
    }
    out.append(param);
  }
  return out;
}

}  // namespace feilong::mirror
