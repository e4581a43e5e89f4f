/* Read and API credentials: HTTP Basic users and bearer tokens, compared in
 * constant time. Pure code, unit-tested without a network. */
#pragma once

#include <string>
#include <vector>

namespace gw {

struct Credentials
{
  std::vector<std::string> users; /* "user:password" */
  std::vector<std::string> tokens;

  bool
  open () const
  {
    return users.empty () && tokens.empty ();
  }
};

/* Whether @authorization (an Authorization header value, may be NULL) or
 * @query_token (a "token" query parameter, for clients such as browser
 * websockets that cannot set headers; may be NULL) matches @creds. Open
 * credentials accept everything. The time taken does not depend on where a
 * secret differs nor on which entry matches. */
bool check_credentials (const Credentials &creds, const char *authorization,
                        const char *query_token);

/* The WWW-Authenticate header value for a 401 on @realm. */
std::string auth_challenge (const Credentials &creds, const std::string &realm);

/* Constant-time string equality (time depends only on the lengths). */
bool constant_time_equal (const std::string &a, const std::string &b);

} // namespace gw
