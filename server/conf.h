/* Typed configuration of the gateway: server settings (a key file, group
 * [server]) and one path per pipelines/NAME.pipeline (group [path]).
 * Everything is validated up front; every problem is a GError whose message
 * names the file, the line and the field. Pure code: no GStreamer state. */
#pragma once

#include <gio/gio.h>
#include <glib.h>

#include "auth.h"

#include <string>
#include <vector>

namespace gw {

#define GW_CONF_ERROR (::gw::gw_conf_error_quark ())
GQuark gw_conf_error_quark (void);

struct ServerConfig
{
  std::string file; /* where it came from ("" = built-in defaults) */
  std::string listen_address = "0.0.0.0";
  guint port = 8889;
  std::string pipelines_dir = "pipelines";
  std::vector<std::string> stun_servers; /* stun://host:port */
  std::vector<std::string> turn_servers; /* turn(s)://user:pass@host:port */
  std::string ice_addresses;             /* comma-separated; empty = all */
  guint min_port = 0, max_port = 0;
  std::string log_level = "info";
  Credentials api; /* for /, /v1/ and /metrics; open if empty */
  /* HTTP connections: over the per-address limit a request gets 429, over
   * the global one 503; a connection that takes longer than
   * request_timeout seconds to send a request (or stays idle that long
   * between keep-alive requests) is closed (0 = never). */
  guint max_connections = 1024;
  guint max_connections_per_address = 64;
  guint request_timeout = 30;
  /* PEM files (absolute paths); both set: HTTPS and WSS only. */
  std::string tls_cert, tls_key;
  bool
  tls () const
  {
    return !tls_cert.empty ();
  }
};

/* Commands a path runs on its events (keys run-on-*), each split like a
 * shell word list at load; empty = none. See hooks.h. */
struct PathHookConfig
{
  std::vector<std::string> ready, not_ready, read, unread;

  bool
  empty () const
  {
    return ready.empty () && not_ready.empty () && read.empty () && unread.empty ();
  }
};

enum class Transport
{
  Auto,
  Tcp,
  Udp
};

struct PathConfig
{
  std::string name; /* URL path, from the file name */
  std::string file;
  std::string source;   /* rtsp:// URL, or empty */
  std::string pipeline; /* gst-launch description, or empty */
  bool on_demand = false;
  guint start_timeout = 10; /* seconds */
  guint close_after = 10;   /* seconds */
  guint max_readers = 0;    /* 0 = unlimited */
  Transport rtsp_transport = Transport::Auto;
  Credentials read; /* to watch this path; open if empty */
  PathHookConfig hooks;
  std::string text; /* the file's text, to see what changed */

  /* Same upstream and options: a reload keeps the running path. */
  bool
  same_as (const PathConfig &o) const
  {
    return text == o.text;
  }
};

/* Parses server settings from @file. Unknown keys and groups are errors (a
 * typo must not be silently ignored). */
bool load_server_config (const std::string &file, ServerConfig &out, GError **error);

/* Loads the certificate (with the chain after it) and the private key of
 * the TLS settings. False with a message if they cannot be used. */
bool load_tls_certificate (const std::string &cert, const std::string &key, GTlsCertificate **out,
                           std::string &problem, bool &key_at_fault);

/* Parses a path file; the path's name is the file name without .pipeline. */
bool load_path_config (const std::string &file, PathConfig &out, GError **error);

/* Whether @name can be a path name: letters, digits, '-', '_' and '.', not
 * starting with '.', at most 64 characters. */
bool valid_path_name (const std::string &name);

/* Loads every *.pipeline file of @dir. Broken files are reported in @errors
 * (one GError each, owned by the caller) and left out. Returns false and
 * sets @error only if @dir cannot be read. */
bool load_path_dir (const std::string &dir, std::vector<PathConfig> &out,
                    std::vector<GError *> &errors, GError **error);

} // namespace gw
