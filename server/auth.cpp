#include "auth.h"

#include <glib.h>
#include <gnutls/abstract.h>
#include <gnutls/gnutls.h>
#include <json-glib/json-glib.h>
#include <jwt.h>
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

namespace {

constexpr gsize MAX_JWT_LENGTH = 8192;

/* Decodes base64url without padding (RFC 7515); false on any other byte. */
bool
base64url_decode (const std::string &in, std::string &out)
{
  if (in.empty () || in.size () % 4 == 1)
    return false;
  std::string b64 (in);
  for (char &c : b64) {
    if (c == '-')
      c = '+';
    else if (c == '_')
      c = '/';
    else if (!g_ascii_isalnum (c))
      return false;
  }
  b64.append ((4 - b64.size () % 4) % 4, '=');
  gsize len = 0;
  g_autofree guchar *raw = g_base64_decode (b64.c_str (), &len);
  if (!raw)
    return false;
  out.assign ((const char *)raw, len);
  return true;
}

/* Parses @text as a JSON object; NULL if it is not one. */
JsonParser *
parse_object (const std::string &text)
{
  JsonParser *p = json_parser_new ();
  if (!json_parser_load_from_data (p, text.data (), (gssize)text.size (), NULL)
      || !json_parser_get_root (p) || !JSON_NODE_HOLDS_OBJECT (json_parser_get_root (p))) {
    g_object_unref (p);
    return NULL;
  }
  return p;
}

/* A NumericDate claim: absent (true, @present false), a number, or bad. */
bool
numeric_claim (JsonObject *claims, const char *name, bool &present, gint64 &value)
{
  present = json_object_has_member (claims, name);
  if (!present)
    return true;
  JsonNode *n = json_object_get_member (claims, name);
  if (!JSON_NODE_HOLDS_VALUE (n))
    return false;
  GType t = json_node_get_value_type (n);
  if (t == G_TYPE_INT64)
    value = json_node_get_int (n);
  else if (t == G_TYPE_DOUBLE)
    value = (gint64)json_node_get_double (n);
  else
    return false;
  return true;
}

/* Whether the "paths" claim (absent: every path) opens @path (NULL: the
 * API, which only an unrestricted token opens). */
bool
paths_claim_allows (JsonNode *claim, const char *path, bool &malformed)
{
  malformed = false;
  if (!claim)
    return true;
  std::vector<std::string> names;
  if (JSON_NODE_HOLDS_VALUE (claim) && json_node_get_value_type (claim) == G_TYPE_STRING) {
    names.emplace_back (json_node_get_string (claim));
  } else if (JSON_NODE_HOLDS_ARRAY (claim)) {
    JsonArray *a = json_node_get_array (claim);
    for (guint i = 0; i < json_array_get_length (a); i++) {
      JsonNode *e = json_array_get_element (a, i);
      if (!JSON_NODE_HOLDS_VALUE (e) || json_node_get_value_type (e) != G_TYPE_STRING) {
        malformed = true;
        return false;
      }
      names.emplace_back (json_node_get_string (e));
    }
  } else {
    malformed = true;
    return false;
  }
  for (const std::string &n : names) {
    if (n == "*" || (path && n == path))
      return true;
  }
  return false;
}

jwt_alg_t
libjwt_alg (JwtAlg a)
{
  switch (a) {
  case JwtAlg::HS256:
    return JWT_ALG_HS256;
  case JwtAlg::RS256:
    return JWT_ALG_RS256;
  case JwtAlg::ES256:
    return JWT_ALG_ES256;
  }
  return JWT_ALG_INVAL;
}

/* Verifies the signature of @token with @key for @alg through libjwt (its
 * HMAC check compares in constant time). The token's own alg must be @alg:
 * the caller picked the key by it, this makes sure libjwt agreed. */
bool
signature_ok (const std::string &token, JwtAlg alg, const std::string &key)
{
  jwt_t *j = NULL;
  int rc = jwt_decode (&j, token.c_str (), (const unsigned char *)key.data (), (int)key.size ());
  bool ok = rc == 0 && j && jwt_get_alg (j) == libjwt_alg (alg);
  if (j)
    jwt_free (j);
  return ok;
}

} // namespace

AuthRefusal
verify_jwt (const Credentials &creds, const std::string &token, const char *path, gint64 now)
{
  static const char *const MALFORMED = "malformed token";
  if (token.size () > MAX_JWT_LENGTH)
    return MALFORMED;
  gsize dot1 = token.find ('.');
  gsize dot2 = dot1 == std::string::npos ? dot1 : token.find ('.', dot1 + 1);
  if (dot2 == std::string::npos || token.find ('.', dot2 + 1) != std::string::npos)
    return MALFORMED;
  std::string header_text, payload_text, sig;
  if (!base64url_decode (token.substr (0, dot1), header_text)
      || !base64url_decode (token.substr (dot1 + 1, dot2 - dot1 - 1), payload_text))
    return MALFORMED;
  /* An unsigned token ("alg":"none") has an empty signature. */
  if (dot2 + 1 < token.size () && !base64url_decode (token.substr (dot2 + 1), sig))
    return MALFORMED;
  g_autoptr (JsonParser) header = parse_object (header_text);
  g_autoptr (JsonParser) payload = parse_object (payload_text);
  if (!header || !payload)
    return MALFORMED;
  JsonObject *h = json_node_get_object (json_parser_get_root (header));

  /* The algorithm decides the key, never the other way round: HS256 only
   * with the secret, RS256/ES256 only with a public key of that kind. */
  const char *alg_name = json_object_has_member (h, "alg")
                             ? json_object_get_string_member_with_default (h, "alg", "")
                             : "";
  if (json_object_has_member (h, "crit"))
    return "token header not supported";
  std::vector<std::pair<JwtAlg, const std::string *> > keys;
  if (g_str_equal (alg_name, "HS256") && !creds.jwt_secret.empty ())
    keys.emplace_back (JwtAlg::HS256, &creds.jwt_secret);
  for (const JwtKey &k : creds.jwt_keys) {
    if ((g_str_equal (alg_name, "RS256") && k.alg == JwtAlg::RS256)
        || (g_str_equal (alg_name, "ES256") && k.alg == JwtAlg::ES256))
      keys.emplace_back (k.alg, &k.pem);
  }
  if (keys.empty ())
    return "token algorithm not accepted";
  bool signed_ok = false;
  for (const auto &k : keys)
    signed_ok = signed_ok || signature_ok (token, k.first, *k.second);
  if (!signed_ok)
    return "bad token signature";

  JsonObject *claims = json_node_get_object (json_parser_get_root (payload));
  bool has_exp = false, has_nbf = false;
  gint64 exp = 0, nbf = 0;
  if (!numeric_claim (claims, "exp", has_exp, exp) || !numeric_claim (claims, "nbf", has_nbf, nbf))
    return MALFORMED;
  if (has_exp && now > exp + JWT_LEEWAY_SECONDS)
    return "token expired";
  if (has_nbf && now + JWT_LEEWAY_SECONDS < nbf)
    return "token not yet valid";
  bool bad_paths = false;
  JsonNode *paths = json_object_get_member (claims, "paths");
  if (!paths_claim_allows (paths, path, bad_paths))
    return bad_paths ? MALFORMED
                     : (path ? "token does not open this path" : "token is limited to some paths");
  return nullptr;
}

AuthRefusal
authenticate (const Credentials &creds, const char *authorization, const char *query_token,
              const char *query_jwt, const char *path, gint64 now)
{
  static const char *const REQUIRED = "credentials required";
  if (creds.open ())
    return nullptr;
  /* Every method the request offers is tried; the reason given is the
   * JWT's when one was offered and none admitted. */
  AuthRefusal jwt_refusal = nullptr;
  bool ok = false;
  if (query_jwt && *query_jwt && creds.jwt ()) {
    jwt_refusal = verify_jwt (creds, query_jwt, path, now);
    ok = ok || !jwt_refusal;
  }
  if (query_token && *query_token && !creds.tokens.empty ())
    ok = matches_any (creds.tokens, query_token) || ok;
  const char *rest = NULL;
  if (authorization && strlen (authorization) <= MAX_JWT_LENGTH + 16) {
    if (has_scheme (authorization, "Bearer", &rest)) {
      if (!creds.tokens.empty ())
        ok = matches_any (creds.tokens, rest) || ok;
      if (!ok && creds.jwt () && strchr (rest, '.')) {
        AuthRefusal r = verify_jwt (creds, rest, path, now);
        ok = !r;
        if (r && !jwt_refusal)
          jwt_refusal = r;
      }
    } else if (has_scheme (authorization, "Basic", &rest) && !creds.users.empty ()) {
      gsize len = 0;
      g_autofree guchar *raw = g_base64_decode (rest, &len);
      if (raw && len > 0)
        ok = matches_any (creds.users, std::string ((const char *)raw, len)) || ok;
    }
  }
  if (ok)
    return nullptr;
  return jwt_refusal ? jwt_refusal : REQUIRED;
}

bool
check_credentials (const Credentials &creds, const char *authorization, const char *query_token)
{
  return authenticate (creds, authorization, query_token, NULL, NULL, g_get_real_time () / 1000000)
         == nullptr;
}

bool
load_jwt_keys (const std::string &file, std::vector<JwtKey> &out, std::string &problem)
{
  static const char *const BEGIN = "-----BEGIN ";
  static const char *const END = "-----END ";
  g_autofree gchar *contents = NULL;
  gsize len = 0;
  g_autoptr (GError) err = NULL;
  if (!g_file_get_contents (file.c_str (), &contents, &len, &err)) {
    problem = std::string ("cannot read: ") + err->message;
    return false;
  }
  std::string text (contents, len);
  gsize first = text.find_first_not_of (" \t\r\n");
  if (first != std::string::npos && (text[first] == '{' || text[first] == '[')) {
    problem = "\"" + file
              + "\" looks like a JWKS (JSON) file; only PEM public keys are supported "
                "(\"-----BEGIN PUBLIC KEY-----\" blocks)";
    return false;
  }
  std::vector<JwtKey> keys;
  gsize pos = 0;
  while ((pos = text.find (BEGIN, pos)) != std::string::npos) {
    gsize label_end = text.find ("-----", pos + strlen (BEGIN));
    gsize end = text.find (END, pos);
    gsize stop = end == std::string::npos ? end : text.find ("-----", end + strlen (END));
    if (label_end == std::string::npos || stop == std::string::npos) {
      problem = "\"" + file + "\" has an unterminated PEM block";
      return false;
    }
    std::string label = text.substr (pos + strlen (BEGIN), label_end - pos - strlen (BEGIN));
    std::string block = text.substr (pos, stop + 5 - pos) + "\n";
    guint key_no = (guint)keys.size () + 1;
    pos = stop + 5;
    if (label != "PUBLIC KEY") {
      problem = "\"" + file + "\" holds a \"" + label
                + "\" block; only \"PUBLIC KEY\" blocks are supported"
                + (label.find ("PRIVATE") != std::string::npos
                       ? " (give the gateway the public key, never the private one)"
                       : "");
      return false;
    }
    gnutls_pubkey_t pk = NULL;
    gnutls_pubkey_init (&pk);
    gnutls_datum_t d = { (unsigned char *)block.data (), (unsigned int)block.size () };
    int rc = gnutls_pubkey_import (pk, &d, GNUTLS_X509_FMT_PEM);
    unsigned int bits = 0;
    int pk_alg = rc < 0 ? rc : gnutls_pubkey_get_pk_algorithm (pk, &bits);
    gnutls_ecc_curve_t curve = GNUTLS_ECC_CURVE_INVALID;
    if (pk_alg == GNUTLS_PK_ECDSA)
      gnutls_pubkey_export_ecc_raw (pk, &curve, NULL, NULL);
    gnutls_pubkey_deinit (pk);
    if (rc < 0) {
      problem = "key " + std::to_string (key_no) + " of \"" + file
                + "\" is not a usable public key (" + gnutls_strerror (rc) + ")";
      return false;
    }
    if (pk_alg == GNUTLS_PK_RSA && bits >= 2048) {
      keys.push_back ({ JwtAlg::RS256, block });
    } else if (pk_alg == GNUTLS_PK_ECDSA && curve == GNUTLS_ECC_CURVE_SECP256R1) {
      keys.push_back ({ JwtAlg::ES256, block });
    } else {
      problem = "key " + std::to_string (key_no) + " of \"" + file
                + "\" is neither an RSA key of 2048 bits or more (RS256) nor a P-256 EC key "
                  "(ES256)";
      return false;
    }
  }
  if (keys.empty ()) {
    problem = "\"" + file + "\" holds no PEM public key";
    return false;
  }
  out = keys;
  return true;
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
