#include "auth.h"

#include <glib.h>
#include <string.h>

namespace gw {

bool
constant_time_equal (const std::string &a, const std::string &b)
{
  /* Compare over the longer length so a prefix does not return early. */
  size_t n = a.size () > b.size () ? a.size () : b.size ();
  volatile unsigned char diff = (unsigned char)(a.size () != b.size ());
  for (size_t i = 0; i < n; i++) {
    unsigned char x = i < a.size () ? (unsigned char)a[i] : 0;
    unsigned char y = i < b.size () ? (unsigned char)b[i] : 0;
    diff |= x ^ y;
  }
  return diff == 0;
}

namespace {

/* Checks @secret against every entry, without stopping at a match. */
bool
matches_any (const std::vector<std::string> &entries, const std::string &secret)
{
  bool found = false;
  for (const std::string &e : entries)
    found |= constant_time_equal (e, secret);
  return found;
}

bool
has_scheme (const char *value, const char *scheme, const char **rest)
{
  size_t n = strlen (scheme);
  if (g_ascii_strncasecmp (value, scheme, n) != 0 || value[n] != ' ')
    return false;
  *rest = value + n + 1;
  while (**rest == ' ')
    (*rest)++;
  return true;
}

} // namespace

bool
check_credentials (const Credentials &creds, const char *authorization, const char *query_token)
{
  if (creds.open ())
    return true;
  if (query_token && *query_token && !creds.tokens.empty ())
    return matches_any (creds.tokens, query_token);
  if (!authorization || strlen (authorization) > 4096)
    return false;
  const char *rest = NULL;
  if (has_scheme (authorization, "Bearer", &rest))
    return !creds.tokens.empty () && matches_any (creds.tokens, rest);
  if (has_scheme (authorization, "Basic", &rest) && !creds.users.empty ()) {
    gsize len = 0;
    g_autofree guchar *raw = g_base64_decode (rest, &len);
    if (!raw || len == 0)
      return false;
    return matches_any (creds.users, std::string ((const char *)raw, len));
  }
  return false;
}

std::string
auth_challenge (const Credentials &creds, const std::string &realm)
{
  std::string r;
  for (char c : realm)
    if (c != '"' && c != '\\' && (unsigned char)c >= 0x20)
      r += c;
  if (!creds.users.empty ())
    return "Basic realm=\"" + r + "\", charset=\"UTF-8\"";
  return "Bearer realm=\"" + r + "\"";
}

} // namespace gw
