/* GwWhepServer: gwsink's embedded HTTP server, on its own thread.
 *
 * A libsoup server running on a GMainContext + GMainLoop in a thread it owns,
 * so it works in applications that run no main loop. It serves the player
 * page and, through the shared WHEP endpoint (gwwhep.h), WHEP at /whep:
 *
 *   GET|HEAD /           the player page (gwplayerpage.h)
 *   /whep, /whep/<id>    the WHEP resource and its sessions (gwwhep.h); the
 *                        sessions come from the caller's SessionFactory,
 *                        called on the server thread
 *   anything else        404 or 405, with a short reason
 * Every answer carries Access-Control-Allow-Origin: *.
 */
#pragma once

#include "gwwhep.h"

#include <gio/gio.h>
#include <libsoup/soup.h>

typedef struct _GwWhepServer GwWhepServer;

/* Error domain: G_IO_ERROR. G_IO_ERROR_INVALID_ARGUMENT for an @address that
 * is not an IP address; otherwise why listening failed (port in use...).
 * @factory must outlive the server. */
GwWhepServer *gw_whep_server_new (const gchar *address, guint port,
                                  gw::whep::SessionFactory *factory, GError **error);

/* The TCP port listened on (the chosen one when asked for port 0). */
guint gw_whep_server_get_port (GwWhepServer *server);

/* The server thread's main context: the sessions' (borrowed). */
GMainContext *gw_whep_server_get_context (GwWhepServer *server);

/* Ends the server thread (waits for it, unless called on it); nothing runs
 * on it afterwards. Idempotent. */
void gw_whep_server_stop (GwWhepServer *server);

/* Stops, closes the sessions the endpoint made (without answering) and every
 * connection, and frees. */
void gw_whep_server_free (GwWhepServer *server);

G_BEGIN_DECLS

/* A new random, unguessable session id (32 hex digits). */
gchar *gw_whep_new_session_id (void);

G_END_DECLS
