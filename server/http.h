/* The gateway's one HTTP server (libsoup): WHEP signalling, the websocket
 * signalling, the player page, the index of paths and the JSON API. Thin
 * adapters over Manager and Session; runs on the main context. */
#pragma once

#include "manager.h"

#include <glib.h>

namespace gw {

class HttpServer
{
public:
  explicit HttpServer (Manager &manager);
  ~HttpServer ();
  HttpServer (const HttpServer &) = delete;
  HttpServer &operator= (const HttpServer &) = delete;

  /* Listens on the manager's server().listen_address / port (0 = any free
   * port). False with @error (e.g. the port is taken). */
  bool listen (GError **error);
  /* The port actually bound. */
  guint port () const;

private:
  struct Impl;
  Impl *impl_;
};

} // namespace gw
