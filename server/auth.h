/* Read and API credentials: HTTP Basic users, bearer tokens (compared in
 * constant time) and JSON Web Tokens (verified with libjwt). Pure code,
 * unit-tested without a network. */
#pragma once

#include <glib.h>

#include <string>
#include <vector>

namespace gw {

/* The only JWT algorithms accepted; each key is for exactly one. */
enum class JwtAlg
{
  HS256,
  RS256,
  ES256,
};

struct JwtKey
{
  JwtAlg alg;
  std::string pem; /* one PEM "PUBLIC KEY" block */
};

/* Seconds a token's exp and nbf may be off, for clocks that disagree. */
constexpr gint64 JWT_LEEWAY_SECONDS = 30;

struct Credentials
{
  std::vector<std::string> users; /* "user:password" */
  std::vector<std::string> tokens;
  std::string jwt_secret;       /* HS256; empty = none */
  std::vector<JwtKey> jwt_keys; /* RS256/ES256 public keys */

  bool
  jwt () const
  {
    return !jwt_secret.empty () || !jwt_keys.empty ();
  }

  bool
  open () const
  {
    return users.empty () && tokens.empty () && !jwt ();
  }
};

/* Why a request was refused (nullptr: admitted). Short, fixed texts that
 * never contain what the client sent. */
using AuthRefusal = const char *;

/* Checks a request against @creds: @authorization (the Authorization header,
 * may be NULL), @query_token (the "token" query parameter) and @query_jwt
 * (the "jwt" query parameter), for clients such as browser websockets that
 * cannot set headers. Any configured method that succeeds admits. @path is
 * the path name the request is for, or NULL for the index, API and metrics
 * (a JWT limited to some paths does not open those). @now is Unix time in
 * seconds. */
AuthRefusal authenticate (const Credentials &creds, const char *authorization,
                          const char *query_token, const char *query_jwt, const char *path,
                          gint64 now);

/* Verifies the compact JWT @token against the JWT keys of @creds, then its
 * exp, nbf and paths claims for @path (NULL: the API) at @now. */
AuthRefusal verify_jwt (const Credentials &creds, const std::string &token, const char *path,
                        gint64 now);

/* Reads the PEM public keys (RSA for RS256, EC P-256 for ES256) of @file
 * into @out; on failure says why in @problem. */
bool load_jwt_keys (const std::string &file, std::vector<JwtKey> &out, std::string &problem);

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
