/* URL and secret handling for the sources: split credentials out of a URL,
 * and hide passwords in anything shown (logs, messages, errors).
 * Pure string code, no GStreamer. */
#pragma once

#include <string>

namespace gw {

/* scheme://[user[:password]@]rest, as written (user and password are still
 * percent-encoded). */
struct UrlParts
{
  std::string scheme;
  std::string user;
  std::string password;
  std::string rest; /* host[:port][/path][?query][#fragment] */
  bool has_user = false;
  bool has_password = false;
};

/* Splits @url. A password may contain a raw '@' (the last '@' of the
 * authority ends the user info). Returns false if @url has no "scheme://". */
bool url_split (const std::string &url, UrlParts *parts);

/* @url without its user info: scheme://rest. */
std::string url_without_userinfo (const UrlParts &parts);

/* Percent-decodes @s (returns @s unchanged if it is not valid). */
std::string url_unescape (const std::string &s);

/* Whether rtspsrc handles @scheme (rtsp, rtsps and their u/t/h variants). */
bool url_scheme_is_rtsp (const std::string &scheme);

/* @text with the password of every URL in it ("scheme://user:pw@") replaced
 * by "***". */
std::string redact_urls (const std::string &text);

/* Replaces every occurrence of @secret (if not empty) in @text by "***". */
void redact_secret (std::string &text, const std::string &secret);

} // namespace gw
