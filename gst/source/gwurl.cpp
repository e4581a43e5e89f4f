/* URL and secret handling (see gwurl.h). */
#include "gwurl.h"

#include <glib.h>

namespace gw {

bool
url_split (const std::string &url, UrlParts *parts)
{
  size_t sep = url.find ("://");
  if (sep == std::string::npos || sep == 0)
    return false;
  *parts = UrlParts ();
  parts->scheme = url.substr (0, sep);
  std::string after = url.substr (sep + 3);
  std::string authority = after.substr (0, after.find_first_of ("/?#"));
  size_t at = authority.rfind ('@');
  if (at != std::string::npos) {
    std::string info = authority.substr (0, at);
    size_t colon = info.find (':');
    parts->has_user = true;
    parts->user = info.substr (0, colon);
    if (colon != std::string::npos) {
      parts->has_password = true;
      parts->password = info.substr (colon + 1);
    }
    after = after.substr (at + 1);
  }
  parts->rest = after;
  return true;
}

std::string
url_without_userinfo (const UrlParts &parts)
{
  return parts.scheme + "://" + parts.rest;
}

std::string
url_unescape (const std::string &s)
{
  gchar *u = g_uri_unescape_string (s.c_str (), nullptr);
  std::string out = u ? std::string (u) : s;
  g_free (u);
  return out;
}

bool
url_scheme_is_rtsp (const std::string &scheme)
{
  static const char *known[]
      = { "rtsp", "rtspu", "rtspt", "rtsph", "rtsps", "rtspsu", "rtspst", "rtspsh" };
  for (const char *k : known)
    if (g_ascii_strcasecmp (scheme.c_str (), k) == 0)
      return true;
  return false;
}

std::string
redact_urls (const std::string &text)
{
  std::string out;
  size_t pos = 0;
  for (size_t sep = text.find ("://"); sep != std::string::npos; sep = text.find ("://", pos)) {
    size_t auth = sep + 3;
    size_t end = text.find_first_of ("/?# \t\r\n\"'<>", auth);
    if (end == std::string::npos)
      end = text.size ();
    std::string authority = text.substr (auth, end - auth);
    size_t at = authority.rfind ('@');
    size_t colon = authority.find (':');
    out += text.substr (pos, auth - pos);
    if (at != std::string::npos && colon < at) {
      out += authority.substr (0, colon + 1) + "***";
      pos = auth + at; /* continue with "@host..." */
    } else {
      pos = auth;
    }
  }
  return out + text.substr (pos);
}

void
redact_secret (std::string &text, const std::string &secret)
{
  if (secret.empty ())
    return;
  for (size_t p = text.find (secret); p != std::string::npos; p = text.find (secret, p + 3))
    text.replace (p, secret.size (), "***");
}

} // namespace gw
