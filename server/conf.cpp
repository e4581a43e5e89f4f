#include "conf.h"

#include "gwurl.h"

#include <gio/gio.h>
#include <string.h>
#include <gnutls/gnutls.h>
#include <gnutls/x509.h>

#include <algorithm>

namespace gw {

G_DEFINE_QUARK (gw - conf - error - quark, gw_conf_error)

namespace {

/* Line (1-based) of "key =" inside [group] of @text, or of the group header
 * when @key is empty; 0 when absent. */
guint
line_of (const std::string &text, const char *group, const char *key)
{
  g_auto (GStrv) lines = g_strsplit (text.c_str (), "\n", -1);
  bool in_group = false;
  for (guint i = 0; lines[i]; i++) {
    g_autofree gchar *l = g_strstrip (g_strdup (lines[i]));
    if (l[0] == '[') {
      g_autofree gchar *want = g_strdup_printf ("[%s]", group);
      in_group = g_str_equal (l, want);
      if (in_group && !key)
        return i + 1;
      continue;
    }
    if (!in_group || !key)
      continue;
    gsize klen = strlen (key);
    if (strncmp (l, key, klen) == 0 && (l[klen] == '=' || l[klen] == ' ' || l[klen] == '\t'))
      return i + 1;
  }
  return 0;
}

/* First line that is neither blank, comment, group header nor key=value. */
guint
first_bad_line (const std::string &text)
{
  g_auto (GStrv) lines = g_strsplit (text.c_str (), "\n", -1);
  for (guint i = 0; lines[i]; i++) {
    g_autofree gchar *l = g_strstrip (g_strdup (lines[i]));
    if (!*l || l[0] == '#' || l[0] == ';')
      continue;
    if (l[0] == '[' && l[strlen (l) - 1] == ']')
      continue;
    if (strchr (l, '=') && l[0] != '=')
      continue;
    return i + 1;
  }
  return 1;
}

struct Loader
{
  std::string file;
  std::string text;
  GKeyFile *kf = nullptr;
  const char *group;

  ~Loader ()
  {
    if (kf)
      g_key_file_free (kf);
  }

  bool
  fail (GError **error, const char *key, const char *fmt, ...) G_GNUC_PRINTF (4, 5)
  {
    va_list ap;
    va_start (ap, fmt);
    g_autofree gchar *what = g_strdup_vprintf (fmt, ap);
    va_end (ap);
    guint line = line_of (text, group, key);
    if (key)
      g_set_error (error, GW_CONF_ERROR, 0, "%s:%u: %s: %s", file.c_str (), line, key, what);
    else
      g_set_error (error, GW_CONF_ERROR, 0, "%s:%u: %s", file.c_str (), line, what);
    return false;
  }

  bool
  open (const std::string &path, const char *grp, const char *const *allowed, GError **error)
  {
    file = path;
    group = grp;
    g_autofree gchar *contents = NULL;
    gsize len = 0;
    GError *err = NULL;
    if (!g_file_get_contents (path.c_str (), &contents, &len, &err)) {
      g_set_error (error, GW_CONF_ERROR, 0, "%s: cannot read: %s", path.c_str (), err->message);
      g_error_free (err);
      return false;
    }
    if (len > 1024 * 1024 || memchr (contents, '\0', len)) {
      g_set_error (error, GW_CONF_ERROR, 0, "%s: not a text configuration file", path.c_str ());
      return false;
    }
    text.assign (contents, len);
    kf = g_key_file_new ();
    if (!g_key_file_load_from_data (kf, contents, len, G_KEY_FILE_NONE, &err)) {
      g_set_error (error, GW_CONF_ERROR, 0, "%s:%u: %s", path.c_str (), first_bad_line (text),
                   err->message);
      g_error_free (err);
      return false;
    }
    gsize n_groups = 0;
    g_auto (GStrv) groups = g_key_file_get_groups (kf, &n_groups);
    for (gsize i = 0; i < n_groups; i++) {
      if (!g_str_equal (groups[i], grp)) {
        group = groups[i];
        g_autofree gchar *msg
            = g_strdup_printf ("unknown group [%s] (expected [%s])", groups[i], grp);
        guint line = line_of (text, groups[i], NULL);
        g_set_error (error, GW_CONF_ERROR, 0, "%s:%u: %s", path.c_str (), line, msg);
        return false;
      }
    }
    if (!g_key_file_has_group (kf, grp)) {
      g_set_error (error, GW_CONF_ERROR, 0, "%s:1: missing group [%s]", path.c_str (), grp);
      return false;
    }
    g_auto (GStrv) keys = g_key_file_get_keys (kf, grp, NULL, NULL);
    for (guint i = 0; keys && keys[i]; i++) {
      if (!g_strv_contains (allowed, keys[i]))
        return fail (error, keys[i], "unknown field");
    }
    return true;
  }

  bool
  has (const char *key)
  {
    return g_key_file_has_key (kf, group, key, NULL);
  }

  std::string
  str (const char *key)
  {
    g_autofree gchar *v = g_key_file_get_string (kf, group, key, NULL);
    return v ? g_strstrip (v) : "";
  }

  bool
  uint (const char *key, guint min, guint max, guint &out, GError **error)
  {
    if (!has (key))
      return true;
    std::string v = str (key);
    gchar *end = NULL;
    guint64 n = g_ascii_strtoull (v.c_str (), &end, 10);
    if (v.empty () || !end || *end || v[0] == '-')
      return fail (error, key, "not a whole number: \"%s\"", v.c_str ());
    if (n < min || n > max)
      return fail (error, key, "%s is out of range (%u to %u)", v.c_str (), min, max);
    out = (guint)n;
    return true;
  }

  bool
  boolean (const char *key, bool &out, GError **error)
  {
    if (!has (key))
      return true;
    std::string v = str (key);
    if (v == "true" || v == "yes" || v == "1")
      out = true;
    else if (v == "false" || v == "no" || v == "0")
      out = false;
    else
      return fail (error, key, "expected true or false, got \"%s\"", v.c_str ());
    return true;
  }

  std::vector<std::string>
  list (const char *key)
  {
    std::vector<std::string> out;
    std::string v = str (key);
    g_auto (GStrv) parts = g_strsplit_set (v.c_str (), ",;", -1);
    for (guint i = 0; parts[i]; i++) {
      g_strstrip (parts[i]);
      if (*parts[i])
        out.emplace_back (parts[i]);
    }
    return out;
  }
};

/* Reads users (user:password, comma-separated) and tokens. */
bool
load_credentials (Loader &l, const char *users_key, const char *tokens_key, Credentials &out,
                  GError **error)
{
  for (const std::string &u : l.list (users_key)) {
    gsize colon = u.find (':');
    if (colon == std::string::npos || colon == 0)
      return l.fail (error, users_key, "expected user:password entries");
    out.users.push_back (u);
  }
  for (const std::string &t : l.list (tokens_key)) {
    if (t.size () < 16)
      return l.fail (error, tokens_key, "a token must be at least 16 characters long");
    out.tokens.push_back (t);
  }
  return true;
}

/* A hook command: split like a shell word list (quotes, backslashes; no
 * variables, no globs: it runs without a shell), its program found. An
 * empty value is no hook. */
bool
load_hook (Loader &l, const char *key, std::vector<std::string> &out, GError **error)
{
  out.clear ();
  std::string v = l.str (key);
  if (v.empty ())
    return true;
  gint argc = 0;
  g_auto (GStrv) argv = NULL;
  g_autoptr (GError) err = NULL;
  if (!g_shell_parse_argv (v.c_str (), &argc, &argv, &err))
    return l.fail (error, key, "cannot split the command: %s", err->message);
  std::string program = argv[0];
  g_autofree gchar *found = NULL;
  if (program.find ('/') != std::string::npos && !g_path_is_absolute (program.c_str ())) {
    /* Relative to the path's file, so the gateway runs from anywhere. */
    g_autofree gchar *rel_dir = g_path_get_dirname (l.file.c_str ());
    g_autofree gchar *dir = g_canonicalize_filename (rel_dir, NULL); /* from the cwd */
    g_autofree gchar *abs = g_canonicalize_filename (program.c_str (), dir);
    g_free (argv[0]);
    argv[0] = g_strdup (abs);
    program = abs;
  }
  if (program.find ('/') != std::string::npos) {
    if (g_file_test (program.c_str (), G_FILE_TEST_IS_REGULAR)
        && g_file_test (program.c_str (), G_FILE_TEST_IS_EXECUTABLE))
      found = g_strdup (program.c_str ());
  } else {
    found = g_find_program_in_path (program.c_str ());
  }
  if (!found)
    return l.fail (error, key, "the program \"%s\" is not %s", redact_urls (program).c_str (),
                   program.find ('/') != std::string::npos ? "an executable file"
                                                           : "found in PATH");
  for (gint i = 0; i < argc; i++)
    out.emplace_back (argv[i]);
  return true;
}

bool
valid_ip (const std::string &s)
{
  g_autoptr (GInetAddress) a = g_inet_address_new_from_string (s.c_str ());
  return a != NULL;
}

/* Whether the private key of @key_pem belongs to the (first) certificate of
 * @cert_pem: GIO takes any key file with any certificate, and a key that
 * does not belong would otherwise only show when every browser fails to
 * connect. Compares the public key IDs (SHA-256) of both. */
bool
key_matches (const std::string &cert_pem, const std::string &key_pem, std::string &problem)
{
  gnutls_x509_crt_t crt = NULL;
  gnutls_x509_privkey_t key = NULL;
  gnutls_datum_t c = { (unsigned char *)cert_pem.data (), (unsigned int)cert_pem.size () };
  gnutls_datum_t k = { (unsigned char *)key_pem.data (), (unsigned int)key_pem.size () };
  unsigned char crt_id[64], key_id[64];
  size_t crt_len = sizeof (crt_id), key_len = sizeof (key_id);
  bool ok = false;
  int r;
  if ((r = gnutls_x509_crt_init (&crt)) < 0
      || (r = gnutls_x509_crt_import (crt, &c, GNUTLS_X509_FMT_PEM)) < 0
      || (r = gnutls_x509_crt_get_key_id (crt, GNUTLS_KEYID_USE_SHA256, crt_id, &crt_len)) < 0)
    problem = std::string ("cannot read the certificate's public key: ") + gnutls_strerror (r);
  else if ((r = gnutls_x509_privkey_init (&key)) < 0
           || (r = gnutls_x509_privkey_import2 (key, &k, GNUTLS_X509_FMT_PEM, NULL, 0)) < 0
           || (r = gnutls_x509_privkey_get_key_id (key, GNUTLS_KEYID_USE_SHA256, key_id, &key_len))
                  < 0)
    problem = std::string ("cannot read the private key: ") + gnutls_strerror (r);
  else if (crt_len != key_len || memcmp (crt_id, key_id, crt_len) != 0)
    problem = "its public key is not the certificate's";
  else
    ok = true;
  if (key)
    gnutls_x509_privkey_deinit (key);
  if (crt)
    gnutls_x509_crt_deinit (crt);
  return ok;
}

} // namespace

bool
load_tls_certificate (const std::string &cert, const std::string &key, GTlsCertificate **out,
                      std::string &problem, bool &key_at_fault)
{
  key_at_fault = false;
  const std::string *files[2] = { &cert, &key };
  std::string pem[2];
  for (int i = 0; i < 2; i++) {
    g_autofree gchar *data = NULL;
    gsize len = 0;
    g_autoptr (GError) err = NULL;
    if (!g_file_get_contents (files[i]->c_str (), &data, &len, &err)) {
      key_at_fault = i == 1;
      problem = "cannot read \"" + *files[i] + "\": " + err->message;
      return false;
    }
    pem[i].assign (data, len);
  }
  g_autoptr (GError) err = NULL;
  g_autoptr (GTlsCertificate) only_cert = g_tls_certificate_new_from_file (cert.c_str (), &err);
  if (!only_cert) {
    problem = "\"" + cert + "\" holds no usable PEM certificate (" + err->message + ")";
    return false;
  }
  g_autoptr (GTlsCertificate) c
      = g_tls_certificate_new_from_files (cert.c_str (), key.c_str (), &err);
  if (!c) {
    key_at_fault = true;
    problem = "\"" + key + "\" holds no usable PEM private key (" + err->message + ")";
    return false;
  }
  std::string why;
  if (!key_matches (pem[0], pem[1], why)) {
    key_at_fault = true;
    problem = "the key in \"" + key + "\" does not belong to the certificate in \"" + cert + "\" ("
              + why + ")";
    return false;
  }
  if (out)
    *out = (GTlsCertificate *)g_steal_pointer (&c);
  return true;
}

namespace {

/* A file name from the configuration, relative to the configuration file. */
std::string
relative_to (const std::string &conf_file, const std::string &name)
{
  if (g_path_is_absolute (name.c_str ()))
    return name;
  g_autofree gchar *dir = g_path_get_dirname (conf_file.c_str ());
  g_autofree gchar *p = g_build_filename (dir, name.c_str (), NULL);
  return p;
}

/* An HS256 secret needs the hash's 256 bits (RFC 7518, 3.2). */
constexpr gsize MIN_JWT_SECRET = 32;

/* Reads a JWT secret and a file of PEM public keys (relative to the
 * configuration file). */
bool
load_jwt (Loader &l, const char *secret_key, const char *keys_key, Credentials &out, GError **error)
{
  if (l.has (secret_key)) {
    std::string secret = l.str (secret_key);
    if (secret.empty ())
      return l.fail (error, secret_key, "empty secret");
    if (secret.size () < MIN_JWT_SECRET)
      return l.fail (error, secret_key, "an HS256 secret must be at least %u characters long",
                     (guint)MIN_JWT_SECRET);
    out.jwt_secret = secret;
  }
  if (l.has (keys_key)) {
    std::string name = l.str (keys_key);
    if (name.empty ())
      return l.fail (error, keys_key, "empty file name");
    std::string problem;
    if (!load_jwt_keys (relative_to (l.file, name), out.jwt_keys, problem))
      return l.fail (error, keys_key, "%s", problem.c_str ());
  }
  return true;
}

} // namespace

bool
valid_path_name (const std::string &name)
{
  if (name.empty () || name.size () > 64 || name[0] == '.')
    return false;
  return std::all_of (name.begin (), name.end (), [] (char c) {
    return g_ascii_isalnum (c) || c == '-' || c == '_' || c == '.';
  });
}

bool
load_server_config (const std::string &file, ServerConfig &out, GError **error)
{
  static const char *const allowed[] = { "listen",          "pipelines",
                                         "ice-servers",     "ice-addresses",
                                         "udp-port-range",  "log-level",
                                         "api-users",       "api-tokens",
                                         "max-connections", "max-connections-per-address",
                                         "request-timeout", "tls-cert",
                                         "tls-key",         "api-jwt-secret",
                                         "api-jwt-keys",    NULL };
  Loader l;
  if (!l.open (file, "server", allowed, error))
    return false;
  ServerConfig c;
  c.file = file;

  if (l.has ("listen")) {
    std::string v = l.str ("listen");
    gsize colon = v.rfind (':');
    if (colon == std::string::npos)
      return l.fail (error, "listen", "expected address:port, got \"%s\"", v.c_str ());
    std::string addr = v.substr (0, colon);
    if (addr.size () >= 2 && addr.front () == '[' && addr.back () == ']')
      addr = addr.substr (1, addr.size () - 2);
    std::string port = v.substr (colon + 1);
    gchar *end = NULL;
    guint64 p = g_ascii_strtoull (port.c_str (), &end, 10);
    if (port.empty () || *end || p > 65535)
      return l.fail (error, "listen", "bad port \"%s\"", port.c_str ());
    if (!addr.empty () && !valid_ip (addr))
      return l.fail (error, "listen", "\"%s\" is not an IP address", addr.c_str ());
    c.listen_address = addr.empty () ? "0.0.0.0" : addr;
    c.port = (guint)p;
  }
  if (l.has ("pipelines")) {
    c.pipelines_dir = l.str ("pipelines");
    if (c.pipelines_dir.empty ())
      return l.fail (error, "pipelines", "empty directory");
    /* Relative to the configuration file, so the server runs from anywhere. */
    c.pipelines_dir = relative_to (file, c.pipelines_dir);
  }
  for (const std::string &url : l.list ("ice-servers")) {
    if (g_str_has_prefix (url.c_str (), "stun://"))
      c.stun_servers.push_back (url);
    else if (g_str_has_prefix (url.c_str (), "turn://")
             || g_str_has_prefix (url.c_str (), "turns://"))
      c.turn_servers.push_back (url);
    else
      return l.fail (error, "ice-servers", "\"%s\" is not a stun://, turn:// or turns:// URL",
                     redact_urls (url).c_str ());
  }
  if (c.stun_servers.size () > 1)
    return l.fail (error, "ice-servers", "at most one stun:// server");
  std::vector<std::string> addrs = l.list ("ice-addresses");
  for (const std::string &a : addrs) {
    if (!valid_ip (a))
      return l.fail (error, "ice-addresses", "\"%s\" is not an IP address", a.c_str ());
    c.ice_addresses += (c.ice_addresses.empty () ? "" : ",") + a;
  }
  if (l.has ("udp-port-range")) {
    std::string v = l.str ("udp-port-range");
    guint lo = 0, hi = 0;
    char extra;
    if (sscanf (v.c_str (), "%u-%u%c", &lo, &hi, &extra) != 2 || lo == 0 || hi > 65535 || lo > hi)
      return l.fail (error, "udp-port-range",
                     "expected MIN-MAX with 1 <= MIN <= MAX <= 65535, "
                     "got \"%s\"",
                     v.c_str ());
    c.min_port = lo;
    c.max_port = hi;
  }
  if (l.has ("log-level")) {
    c.log_level = l.str ("log-level");
    static const char *const levels[] = { "error", "warning", "info", "debug", NULL };
    if (!g_strv_contains (levels, c.log_level.c_str ()))
      return l.fail (error, "log-level", "expected error, warning, info or debug");
  }
  if (!load_credentials (l, "api-users", "api-tokens", c.api, error)
      || !load_jwt (l, "api-jwt-secret", "api-jwt-keys", c.api, error))
    return false;
  if (!l.uint ("max-connections", 1, 1000000, c.max_connections, error)
      || !l.uint ("max-connections-per-address", 1, 1000000, c.max_connections_per_address, error)
      || !l.uint ("request-timeout", 0, 3600, c.request_timeout, error))
    return false;
  if (l.has ("tls-cert") != l.has ("tls-key")
      || (l.has ("tls-cert") && (l.str ("tls-cert").empty () || l.str ("tls-key").empty ()))) {
    const char *set = l.has ("tls-cert") && !l.str ("tls-cert").empty () ? "tls-cert" : "tls-key";
    const char *unset = g_str_equal (set, "tls-cert") ? "tls-key" : "tls-cert";
    return l.fail (error, set, "%s is set but %s is not (set both for HTTPS, or neither)", set,
                   unset);
  }
  if (l.has ("tls-cert")) {
    c.tls_cert = relative_to (file, l.str ("tls-cert"));
    c.tls_key = relative_to (file, l.str ("tls-key"));
    std::string problem;
    bool key_at_fault = false;
    if (!load_tls_certificate (c.tls_cert, c.tls_key, NULL, problem, key_at_fault))
      return l.fail (error, key_at_fault ? "tls-key" : "tls-cert", "%s", problem.c_str ());
  }
  out = c;
  return true;
}

bool
load_path_config (const std::string &file, PathConfig &out, GError **error)
{
  static const char *const allowed[]
      = { "source",        "pipeline",        "on-demand",        "start-timeout",
          "close-after",   "max-readers",     "rtsp-transport",   "read-users",
          "read-tokens",   "run-on-ready",    "run-on-not-ready", "run-on-read",
          "run-on-unread", "read-jwt-secret", "read-jwt-keys",    NULL };
  g_autofree gchar *base = g_path_get_basename (file.c_str ());
  std::string name (base);
  if (g_str_has_suffix (base, ".pipeline"))
    name = name.substr (0, name.size () - strlen (".pipeline"));
  if (!valid_path_name (name)) {
    g_set_error (error, GW_CONF_ERROR, 0,
                 "%s:0: the file name makes an invalid path name "
                 "(use letters, digits, '-', '_', '.')",
                 file.c_str ());
    return false;
  }

  Loader l;
  if (!l.open (file, "path", allowed, error))
    return false;
  PathConfig c;
  c.name = name;
  c.file = file;
  c.text = l.text;
  c.source = l.str ("source");
  c.pipeline = l.str ("pipeline");

  if (c.source.empty () == c.pipeline.empty ()) {
    l.group = "path";
    return l.fail (
        error, c.source.empty () ? NULL : "pipeline",
        "set exactly one of source= (an rtsp:// URL) and pipeline= (a gst-launch description)");
  }
  if (!c.source.empty () && !g_str_has_prefix (c.source.c_str (), "rtsp://")
      && !g_str_has_prefix (c.source.c_str (), "rtsps://"))
    return l.fail (error, "source", "\"%s\" is not an rtsp:// or rtsps:// URL",
                   redact_urls (c.source).c_str ());
  if (!c.source.empty () && !g_uri_is_valid (c.source.c_str (), G_URI_FLAGS_NONE, NULL))
    return l.fail (error, "source", "\"%s\" is not a valid URL", redact_urls (c.source).c_str ());

  if (!l.boolean ("on-demand", c.on_demand, error)
      || !l.uint ("start-timeout", 1, 3600, c.start_timeout, error)
      || !l.uint ("close-after", 0, 86400, c.close_after, error)
      || !l.uint ("max-readers", 0, 100000, c.max_readers, error))
    return false;

  if (l.has ("rtsp-transport")) {
    std::string t = l.str ("rtsp-transport");
    if (t == "tcp")
      c.rtsp_transport = Transport::Tcp;
    else if (t == "udp")
      c.rtsp_transport = Transport::Udp;
    else if (t == "auto")
      c.rtsp_transport = Transport::Auto;
    else
      return l.fail (error, "rtsp-transport", "expected tcp, udp or auto, got \"%s\"", t.c_str ());
  }
  if (!load_credentials (l, "read-users", "read-tokens", c.read, error)
      || !load_jwt (l, "read-jwt-secret", "read-jwt-keys", c.read, error))
    return false;
  if (!load_hook (l, "run-on-ready", c.hooks.ready, error)
      || !load_hook (l, "run-on-not-ready", c.hooks.not_ready, error)
      || !load_hook (l, "run-on-read", c.hooks.read, error)
      || !load_hook (l, "run-on-unread", c.hooks.unread, error))
    return false;
  out = c;
  return true;
}

bool
load_path_dir (const std::string &dir, std::vector<PathConfig> &out, std::vector<GError *> &errors,
               GError **error)
{
  GError *err = NULL;
  GDir *d = g_dir_open (dir.c_str (), 0, &err);
  if (!d) {
    g_set_error (error, GW_CONF_ERROR, 0, "%s: cannot read the pipelines directory: %s",
                 dir.c_str (), err->message);
    g_error_free (err);
    return false;
  }
  std::vector<std::string> names;
  while (const gchar *n = g_dir_read_name (d)) {
    if (g_str_has_suffix (n, ".pipeline") && n[0] != '.')
      names.emplace_back (n);
  }
  g_dir_close (d);
  std::sort (names.begin (), names.end ());
  for (const std::string &n : names) {
    g_autofree gchar *path = g_build_filename (dir.c_str (), n.c_str (), NULL);
    PathConfig pc;
    GError *perr = NULL;
    if (load_path_config (path, pc, &perr))
      out.push_back (pc);
    else
      errors.push_back (perr);
  }
  return true;
}

} // namespace gw
