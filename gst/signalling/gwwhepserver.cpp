/* GwWhepServer: see gwwhepserver.h.
 *
 * Threads: everything below runs on the server thread, except new, stop,
 * free and get_*. The SoupServer is created in new (with the server's
 * context pushed, so its sockets attach to that context) and handed to the
 * thread before the loop starts; free touches it again only once the thread
 * has ended.
 */
#ifdef HAVE_CONFIG_H
#include "config.h"
#endif

#include "gwwhepserver.h"
#include "gwplayerpage.h"

#include <gst/gst.h>
#include <string.h>
#include <sys/random.h>

GST_DEBUG_CATEGORY_STATIC (gw_whep_server_debug);
#define GST_CAT_DEFAULT gw_whep_server_debug

struct _GwWhepServer
{
  gw::whep::SessionFactory *factory;
  gw::whep::Endpoint *endpoint; /* server thread only, until it has ended */
  GMainContext *context;
  GMainLoop *loop;
  GThread *thread;          /* NULL once stopped */
  gboolean thread_detached; /* stopped from the server thread itself */
  SoupServer *server;
  guint port;
};

/* What the thread holds, so that it can outlive a server freed on it. */
struct ThreadData
{
  GMainContext *context;
  GMainLoop *loop;
};

/* ------------------------------------------------------------ replies */

using gw::whep::method_not_allowed;
using gw::whep::respond;

gchar *
gw_whep_new_session_id (void)
{
  guint8 bytes[16];
  if (getrandom (bytes, sizeof bytes, 0) != (ssize_t)sizeof bytes) {
    for (guint8 &b : bytes)
      b = (guint8)g_random_int_range (0, 256);
  }
  static const char hex[] = "0123456789abcdef";
  gchar *id = g_new (gchar, 2 * sizeof bytes + 1);
  for (gsize i = 0; i < sizeof bytes; i++) {
    id[2 * i] = hex[bytes[i] >> 4];
    id[2 * i + 1] = hex[bytes[i] & 15];
  }
  id[2 * sizeof bytes] = '\0';
  return id;
}

/* ------------------------------------------------------------ routes */

/* Runs once the headers are in, before the body is read. */
static void
on_early_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
                  gpointer user_data)
{
  gw::whep::cors (msg, true);
  gw::whep::limit_body (msg);
}

static void
on_request (SoupServer *server, SoupServerMessage *msg, const char *path, GHashTable *query,
            gpointer user_data)
{
  GwWhepServer *self = static_cast<GwWhepServer *> (user_data);
  const char *method = soup_server_message_get_method (msg);
  gboolean get = !strcmp (method, "GET") || !strcmp (method, "HEAD");
  gboolean options = !strcmp (method, "OPTIONS");
  if (!path)
    path = "/";
  GST_DEBUG ("%s %s from %s", method, path,
             GST_STR_NULL (soup_server_message_get_remote_host (msg)));
  gw::whep::cors (msg, true);

  if (!strcmp (path, "/") || !strcmp (path, "/index.html")) {
    if (get) {
      const char *page = gw_player_page_html ();
      soup_message_headers_replace (soup_server_message_get_response_headers (msg), "Cache-Control",
                                    "no-cache");
      soup_server_message_set_status (msg, SOUP_STATUS_OK, NULL);
      soup_server_message_set_response (msg, "text/html; charset=utf-8", SOUP_MEMORY_STATIC, page,
                                        strlen (page));
    } else if (options) {
      gw::whep::preflight (msg, "GET, HEAD, OPTIONS", NULL);
    } else {
      method_not_allowed (msg, "GET, HEAD, OPTIONS");
    }
  } else if (!strcmp (path, "/whep")) {
    self->endpoint->serve (msg, "/whep", "", *self->factory);
  } else if (g_str_has_prefix (path, "/whep/") && path[6] && !strchr (path + 6, '/')) {
    self->endpoint->serve (msg, "/whep", path + 6, *self->factory);
  } else {
    respond (msg, SOUP_STATUS_NOT_FOUND, "not found (the player is at /, WHEP at /whep)");
  }
}

/* ------------------------------------------------------------ lifecycle */

static gpointer
thread_func (gpointer data)
{
  ThreadData *td = static_cast<ThreadData *> (data);
  g_main_context_push_thread_default (td->context);
  g_main_loop_run (td->loop);
  g_main_context_pop_thread_default (td->context);
  g_main_loop_unref (td->loop);
  g_main_context_unref (td->context);
  delete td;
  return NULL;
}

GwWhepServer *
gw_whep_server_new (const gchar *address, guint port, gw::whep::SessionFactory *factory,
                    GError **error)
{
  static gsize once = 0;
  if (g_once_init_enter (&once)) {
    GST_DEBUG_CATEGORY_INIT (gw_whep_server_debug, "gwwhepserver", 0,
                             "gwsink's embedded HTTP (WHEP) server");
    g_once_init_leave (&once, 1);
  }

  g_autoptr (GInetAddress) inet = g_inet_address_new_from_string (address ? address : "");
  if (!inet) {
    g_set_error (error, G_IO_ERROR, G_IO_ERROR_INVALID_ARGUMENT,
                 "address \"%s\" is not an IP address (use e.g. 0.0.0.0, 127.0.0.1 or ::)",
                 GST_STR_NULL (address));
    return NULL;
  }
  g_autoptr (GSocketAddress) sockaddr = g_inet_socket_address_new (inet, port);

  GwWhepServer *self = g_new0 (GwWhepServer, 1);
  self->factory = factory;
  self->context = g_main_context_new ();
  self->endpoint = new gw::whep::Endpoint (self->context);
  g_main_context_push_thread_default (self->context);
  self->server = soup_server_new ("server-header", "gwsink", NULL);
  soup_server_add_early_handler (self->server, NULL, on_early_request, self, NULL);
  soup_server_add_handler (self->server, NULL, on_request, self, NULL);
  gboolean ok = soup_server_listen (self->server, sockaddr, (SoupServerListenOptions)0, error);
  if (ok) {
    GSList *listeners = soup_server_get_listeners (self->server);
    for (GSList *l = listeners; l && !self->port; l = l->next) {
      g_autoptr (GSocketAddress) local = g_socket_get_local_address (G_SOCKET (l->data), NULL);
      if (local && G_IS_INET_SOCKET_ADDRESS (local))
        self->port = g_inet_socket_address_get_port (G_INET_SOCKET_ADDRESS (local));
    }
    g_slist_free (listeners);
  }
  g_main_context_pop_thread_default (self->context);
  if (!ok) {
    gw_whep_server_free (self);
    return NULL;
  }

  self->loop = g_main_loop_new (self->context, FALSE);
  ThreadData *td
      = new ThreadData{ g_main_context_ref (self->context), g_main_loop_ref (self->loop) };
  self->thread = g_thread_new ("gwsink-http", thread_func, td);
  return self;
}

guint
gw_whep_server_get_port (GwWhepServer *self)
{
  return self->port;
}

GMainContext *
gw_whep_server_get_context (GwWhepServer *self)
{
  return self->context;
}

void
gw_whep_server_stop (GwWhepServer *self)
{
  if (!self->thread)
    return;
  g_main_loop_quit (self->loop);
  if (g_thread_self () == self->thread) {
    g_thread_unref (self->thread); /* on our own thread: it ends after this */
    self->thread_detached = TRUE;
  } else
    g_thread_join (self->thread);
  self->thread = NULL;
}

void
gw_whep_server_free (GwWhepServer *self)
{
  if (!self)
    return;
  gw_whep_server_stop (self);
  /* The thread has ended: the endpoint is ours. */
  g_main_context_push_thread_default (self->context);
  delete self->endpoint;
  self->endpoint = nullptr;
  g_main_context_pop_thread_default (self->context);
  if (self->server) {
    g_main_context_push_thread_default (self->context);
    soup_server_disconnect (self->server);
    g_clear_object (&self->server);
    /* Let the connections finish closing (bounded: their close operations
     * complete at once on sockets that are already shut). */
    if (!self->thread_detached)
      for (int i = 0; i < 1000 && g_main_context_iteration (self->context, FALSE); i++)
        ;
    g_main_context_pop_thread_default (self->context);
  }
  g_clear_pointer (&self->loop, g_main_loop_unref);
  /* Drops the sources still attached (their notify runs). */
  g_clear_pointer (&self->context, g_main_context_unref);
  g_free (self);
}
